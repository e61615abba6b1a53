"""scikit-learn's handwritten digits: the embedded default dataset (1,797 images of 8x8 pixels)."""

from __future__ import annotations

import numpy as np

from snn_core.datasets.base import DatasetInfo, DatasetSplits, ImageDataset, split_indices
from snn_core.registry import DATASETS

__all__ = ["load_digits"]


@DATASETS.register("digits")
def load_digits(
    data_dir: str | None = None, *, holdout_fraction: float = 0.2, seed: int = 0
) -> DatasetSplits:
    """Load scikit-learn's digits and split them into train and test parts, stratified by class.

    The images are 8x8 grey levels 0..16, scaled to [0, 1]. The set ships inside scikit-learn, so
    this works offline.

    Args:
        data_dir: Ignored (the data is embedded); accepted so every dataset has the same signature.
        holdout_fraction: Share of each class in the test part.
        seed: Seed of the split.

    Raises:
        ImportError: If scikit-learn is missing; install ``snn-core[digits]``.
    """
    try:
        from sklearn.datasets import load_digits as sklearn_load_digits
    except ImportError as error:
        raise ImportError(
            "the digits dataset needs scikit-learn; install it with `pip install 'snn-core[digits]'`"
        ) from error
    bunch = sklearn_load_digits()
    images = (bunch.images.astype(np.float32) / 16.0)[:, None]
    labels = bunch.target.astype(np.int64)
    train, test = split_indices(labels, holdout_fraction, seed)
    info = DatasetInfo(
        name="digits",
        num_classes=10,
        in_channels=1,
        image_size=8,
        source="scikit-learn",
        split_note=f"stratified split: {len(train)} train, {len(test)} test, seed {seed}",
    )
    return DatasetSplits(
        train=ImageDataset(images[train], labels[train]),
        test=ImageDataset(images[test], labels[test]),
        info=info,
    )
