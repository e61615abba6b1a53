"""Dataset readers for standard on-disk formats, and the embedded digits default.

Nothing is downloaded: every reader takes a path. Use :func:`load_dataset` with a registered name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from snn_core.datasets.base import DatasetInfo, DatasetSplits, ImageDataset, split_indices
from snn_core.datasets.cifar import load_cifar10, load_cifar100, read_cifar_binary
from snn_core.datasets.digits import load_digits
from snn_core.datasets.idx import load_fashion_mnist, load_mnist, read_idx
from snn_core.datasets.image_folder import load_image_folder
from snn_core.registry import DATASETS

__all__ = [
    "DatasetInfo",
    "DatasetSplits",
    "ImageDataset",
    "load_cifar10",
    "load_cifar100",
    "load_dataset",
    "load_digits",
    "load_fashion_mnist",
    "load_image_folder",
    "load_mnist",
    "read_cifar_binary",
    "read_idx",
    "split_indices",
]


def load_dataset(name: str, data_dir: str | Path | None = None, **kwargs: Any) -> DatasetSplits:
    """Load the registered dataset ``name`` with its train and test splits.

    Args:
        name: A registered name, such as "digits" or "mnist".
        data_dir: The folder with the files (not needed for "digits").
        **kwargs: Reader options, such as ``holdout_fraction`` and ``seed``.

    Raises:
        UnknownNameError: If ``name`` is not registered; the message lists the known datasets.
        TypeError: If the reader does not take one of ``kwargs`` (such as ``holdout_fraction`` for
            CIFAR).
        ValueError: If a file is corrupt or ``data_dir`` is missing where it is needed.
        FileNotFoundError: If the folder or a file is missing.
    """
    return DATASETS.build(name, data_dir=data_dir, **kwargs)
