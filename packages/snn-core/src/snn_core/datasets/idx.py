"""MNIST and Fashion-MNIST in the IDX format, gzip-compressed or raw.

An IDX file is a big-endian header (two zero bytes, a type code, the number of dimensions, then one
uint32 per dimension) followed by the data. Labels are ``0x00000801`` (uint8, one dimension); images
are ``0x00000803`` (uint8, three dimensions N x 28 x 28).
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from snn_core.datasets.base import DatasetInfo, DatasetSplits, ImageDataset, split_indices
from snn_core.registry import DATASETS

__all__ = ["find_idx_file", "load_fashion_mnist", "load_mnist", "read_idx"]

_UINT8_TYPE = 0x08
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (gzip or raw) of unsigned bytes into an array.

    Args:
        path: The file, such as ``t10k-images-idx3-ubyte.gz``.

    Returns:
        A uint8 array with the dimensions stored in the header.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the header is not an IDX header of uint8 data, or the data size does not match
            the dimensions in the header (a truncated or corrupt file).
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as error:
            raise ValueError(
                f"{path} is not a valid gzip file ({error}); download it again"
            ) from error
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(
            f"{path} is not an IDX file: it must start with two zero bytes, found {raw[:4].hex()}"
        )
    if raw[2] != _UINT8_TYPE:
        raise ValueError(
            f"{path} stores type code 0x{raw[2]:02x}; only unsigned bytes (0x08) are read"
        )
    dimensions = raw[3]
    header_size = 4 + 4 * dimensions
    if dimensions == 0 or len(raw) < header_size:
        raise ValueError(f"{path} has a truncated IDX header ({len(raw)} bytes)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dimensions))
    expected = int(np.prod(shape)) + header_size
    if len(raw) != expected:
        raise ValueError(
            f"{path} has {len(raw)} bytes but its header {shape} needs {expected}; the file is "
            "truncated or corrupt, download it again"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape)


def find_idx_file(data_dir: Path, stem: str) -> Path | None:
    """Return ``data_dir/stem.gz`` or ``data_dir/stem``, whichever exists, else None."""
    for candidate in (data_dir / f"{stem}.gz", data_dir / stem):
        if candidate.is_file():
            return candidate
    return None


def _read_pair(data_dir: Path, prefix: str) -> tuple[np.ndarray, np.ndarray] | None:
    images_path = find_idx_file(data_dir, f"{prefix}-images-idx3-ubyte")
    labels_path = find_idx_file(data_dir, f"{prefix}-labels-idx1-ubyte")
    if images_path is None and labels_path is None:
        return None
    if images_path is None or labels_path is None:
        missing = (
            f"{prefix}-images-idx3-ubyte" if images_path is None else f"{prefix}-labels-idx1-ubyte"
        )
        raise FileNotFoundError(
            f"{data_dir} has only half of the {prefix} pair: {missing}[.gz] is missing"
        )
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"{images_path.name} {images.shape} and {labels_path.name} {labels.shape} do not form "
            "an image/label pair of equal length"
        )
    if images.shape[0] == 0 or images.shape[1:] != (28, 28):
        raise ValueError(
            f"{images_path} contains images of shape {images.shape}; expected N x 28 x 28 with N > 0"
        )
    if int(labels.max()) > 9:
        raise ValueError(f"{labels_path} has label {int(labels.max())}; MNIST labels are 0..9")
    return images, labels


def _load_idx_dataset(
    name: str, data_dir: str | Path | None, holdout_fraction: float | None, seed: int
) -> DatasetSplits:
    if data_dir is None:
        raise ValueError(
            f"the {name} dataset reads files from disk: pass data_dir (CLI: --data-dir DIR) pointing "
            "at the folder with the *-idx3-ubyte[.gz] files; nothing is downloaded"
        )
    folder = Path(data_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"{name} folder {folder} not found")
    test = _read_pair(folder, "t10k")
    if test is None:
        raise FileNotFoundError(
            f"{folder} has no t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz]"
        )
    train = None if holdout_fraction is not None else _read_pair(folder, "train")

    if holdout_fraction is not None:
        images, labels = test
        train_index, test_index = split_indices(labels, holdout_fraction, seed)
        note = (
            f"t10k files split by class: {len(train_index)} train, {len(test_index)} held out "
            f"(holdout_fraction {holdout_fraction}, seed {seed})"
        )
        train_set = ImageDataset(images[train_index][:, None], labels[train_index])
        test_set = ImageDataset(images[test_index][:, None], labels[test_index])
    elif train is None:
        raise FileNotFoundError(
            f"{folder} has no train-images-idx3-ubyte[.gz]; to train on part of the test files, "
            "pass holdout_fraction (CLI: --holdout-fraction 0.2)"
        )
    else:
        note = f"standard split: {len(train[1])} train, {len(test[1])} test"
        train_set = ImageDataset(train[0][:, None], train[1])
        test_set = ImageDataset(test[0][:, None], test[1])

    info = DatasetInfo(
        name=name, num_classes=10, in_channels=1, image_size=28, source=str(folder), split_note=note
    )
    return DatasetSplits(train=train_set, test=test_set, info=info)


@DATASETS.register("mnist")
def load_mnist(
    data_dir: str | Path | None = None, *, holdout_fraction: float | None = None, seed: int = 0
) -> DatasetSplits:
    """Load MNIST from IDX files in ``data_dir``.

    Args:
        data_dir: Folder with ``train-*`` and ``t10k-*`` IDX files (gzip or raw).
        holdout_fraction: If set, use only the t10k files and split them by class into a train part
            and a held-out test part of this fraction.
        seed: Seed of that split.

    Raises:
        ValueError: If ``data_dir`` is None or a file is corrupt.
        FileNotFoundError: If the folder or a needed file is missing; the message names it.
    """
    return _load_idx_dataset("mnist", data_dir, holdout_fraction, seed)


@DATASETS.register("fashion-mnist")
def load_fashion_mnist(
    data_dir: str | Path | None = None, *, holdout_fraction: float | None = None, seed: int = 0
) -> DatasetSplits:
    """Load Fashion-MNIST from IDX files in ``data_dir``; the arguments are those of :func:`load_mnist`."""
    return _load_idx_dataset("fashion-mnist", data_dir, holdout_fraction, seed)
