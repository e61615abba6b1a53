"""In-memory image classification datasets and the split container the readers return."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

__all__ = ["DatasetInfo", "DatasetSplits", "ImageDataset", "split_indices"]


@dataclass(frozen=True)
class DatasetInfo:
    """Dataset facts a model and a results file need.

    Attributes:
        name: Registry name, such as "mnist".
        num_classes: Number of classes.
        in_channels: Image channels (1 for grey, 3 for RGB).
        image_size: Height (= width) of the images, in pixels.
        source: Where the data came from (a path, or "scikit-learn" for the embedded digits).
        split_note: How train and test were formed, for results files.
    """

    name: str
    num_classes: int
    in_channels: int
    image_size: int
    source: str = ""
    split_note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-able dict."""
        return asdict(self)


class ImageDataset(Dataset[tuple[Tensor, Tensor]]):
    """Images and labels held in memory, returned as ``(float32 [C, H, W] in [0, 1], int64)``.

    Args:
        images: ``[N, C, H, W]`` uint8 (scaled by 1/255 on access) or floating point in [0, 1].
        labels: ``[N]`` integer class indices.

    Raises:
        ValueError: If the shapes disagree or the labels are not integers.
    """

    def __init__(self, images: Tensor | np.ndarray, labels: Tensor | np.ndarray) -> None:
        images = torch.as_tensor(images)
        labels = torch.as_tensor(labels)
        if images.dim() != 4:
            raise ValueError(f"images must be [N, C, H, W], got shape {tuple(images.shape)}")
        if labels.shape != (images.shape[0],):
            raise ValueError(
                f"labels must be [N] with N = {images.shape[0]} images, got shape {tuple(labels.shape)}"
            )
        if labels.dtype.is_floating_point:
            raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
        self.images = images
        self.labels = labels.long()

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self._scale(self.images[index]), self.labels[index]

    def _scale(self, images: Tensor) -> Tensor:
        if images.dtype == torch.uint8:
            return images.to(torch.float32) / 255.0
        return images.to(torch.float32)

    def tensors(self) -> tuple[Tensor, Tensor]:
        """Return all images ``[N, C, H, W]`` (float32 in [0, 1]) and labels ``[N]`` at once."""
        return self._scale(self.images), self.labels

    def subset(self, indices: Tensor | np.ndarray | list[int]) -> ImageDataset:
        """Return a new dataset with the samples at ``indices``."""
        index = torch.as_tensor(indices, dtype=torch.long)
        return ImageDataset(self.images[index], self.labels[index])


@dataclass(frozen=True)
class DatasetSplits:
    """A train split, a test split and their :class:`DatasetInfo`."""

    train: ImageDataset
    test: ImageDataset
    info: DatasetInfo


def split_indices(
    labels: np.ndarray, holdout_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split sample indices into train and held-out parts, stratified by class.

    Each class gives ``round(count * holdout_fraction)`` samples to the held-out part, at least one
    and at most ``count - 1``, so every class with two or more samples appears in both parts (a class
    with one sample stays in train). The split depends only on ``labels``, the fraction and ``seed``.

    Raises:
        ValueError: If ``holdout_fraction`` is not strictly between 0 and 1.
    """
    if not 0.0 < holdout_fraction < 1.0:
        raise ValueError(
            f"holdout_fraction must be between 0 and 1 (exclusive), got {holdout_fraction!r}"
        )
    generator = np.random.default_rng(seed)
    train_parts, holdout_parts = [], []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        generator.shuffle(members)
        count = min(max(1, round(len(members) * holdout_fraction)), len(members) - 1)
        holdout_parts.append(members[:count])
        train_parts.append(members[count:])
    return np.sort(np.concatenate(train_parts)), np.sort(np.concatenate(holdout_parts))
