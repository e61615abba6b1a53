"""CIFAR-10 and CIFAR-100 in their binary version (never the pickled Python version).

CIFAR-10 binary records are 1 label byte then 3,072 pixel bytes (1,024 red, green, blue, each 32x32
row-major) in ``data_batch_1.bin`` ... ``data_batch_5.bin`` and ``test_batch.bin``. CIFAR-100 records
carry a coarse and a fine label byte before the pixels, in ``train.bin`` and ``test.bin``; the fine
label (100 classes) is used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from snn_core.datasets.base import DatasetInfo, DatasetSplits, ImageDataset
from snn_core.registry import DATASETS

__all__ = ["load_cifar10", "load_cifar100", "read_cifar_binary"]

_PIXELS = 3 * 32 * 32


def read_cifar_binary(path: str | Path, label_bytes: int) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR binary file into images ``[N, 3, 32, 32]`` uint8 and labels ``[N]``.

    Args:
        path: The ``.bin`` file.
        label_bytes: 1 for CIFAR-10, 2 for CIFAR-100 (the last label byte, the fine label, is kept).

    Raises:
        ValueError: If the file size is not a whole number of records.
    """
    path = Path(path)
    raw = np.fromfile(path, dtype=np.uint8)
    record = label_bytes + _PIXELS
    if raw.size == 0 or raw.size % record:
        raise ValueError(
            f"{path} has {raw.size} bytes, not a whole number of {record}-byte CIFAR records; "
            "use the binary version of the dataset (not the Python pickles) and check the download"
        )
    records = raw.reshape(-1, record)
    return records[:, label_bytes:].reshape(-1, 3, 32, 32), records[:, label_bytes - 1].astype(
        np.int64
    )


def _require_folder(name: str, data_dir: str | Path | None) -> Path:
    if data_dir is None:
        raise ValueError(
            f"the {name} dataset reads files from disk: pass data_dir (CLI: --data-dir DIR) with the "
            "binary version's .bin files; nothing is downloaded"
        )
    folder = Path(data_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"{name} folder {folder} not found")
    return folder


def _require_file(folder: Path, name: str) -> Path:
    path = folder / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; the binary version of CIFAR has this file")
    return path


@DATASETS.register("cifar10")
def load_cifar10(data_dir: str | Path | None = None) -> DatasetSplits:
    """Load CIFAR-10 (binary version) from ``data_dir``.

    Raises:
        ValueError: If ``data_dir`` is None or a file is corrupt.
        FileNotFoundError: If a batch file is missing.
    """
    folder = _require_folder("cifar10", data_dir)
    batches = [
        read_cifar_binary(_require_file(folder, f"data_batch_{i}.bin"), 1) for i in range(1, 6)
    ]
    test_images, test_labels = read_cifar_binary(_require_file(folder, "test_batch.bin"), 1)
    train = ImageDataset(
        np.concatenate([images for images, _ in batches]),
        np.concatenate([labels for _, labels in batches]),
    )
    info = DatasetInfo("cifar10", 10, 3, 32, source=str(folder), split_note="standard split")
    return DatasetSplits(train=train, test=ImageDataset(test_images, test_labels), info=info)


@DATASETS.register("cifar100")
def load_cifar100(data_dir: str | Path | None = None) -> DatasetSplits:
    """Load CIFAR-100 (binary version, fine labels) from ``data_dir``.

    Raises:
        ValueError: If ``data_dir`` is None or a file is corrupt.
        FileNotFoundError: If ``train.bin`` or ``test.bin`` is missing.
    """
    folder = _require_folder("cifar100", data_dir)
    train = ImageDataset(*read_cifar_binary(_require_file(folder, "train.bin"), 2))
    test = ImageDataset(*read_cifar_binary(_require_file(folder, "test.bin"), 2))
    info = DatasetInfo("cifar100", 100, 3, 32, source=str(folder), split_note="standard split")
    return DatasetSplits(train=train, test=test, info=info)
