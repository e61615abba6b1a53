"""QCFS and LM-HT training on top of snn-core's Trainer."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from snn_core.datasets import DatasetSplits
from snn_core.training import TrainConfig, Trainer

__all__ = ["SequenceOutput", "train_classifier", "train_qcfs"]


class SequenceOutput(nn.Module):
    """Present an ANN's logits ``[B, K]`` as a one-step sequence ``[1, B, K]``.

    snn-core's :class:`~snn_core.training.Trainer` and ``evaluate`` take models that return
    per-step logits, so an ANN trains through them unchanged.

    Args:
        model: The ANN.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        """Map ``[B, ...]`` to logits ``[1, B, K]``."""
        return self.model(x).unsqueeze(0)


def train_qcfs(ann: nn.Module, splits: DatasetSplits, config: TrainConfig) -> dict[str, Any]:
    """Train a QCFS ANN with cross-entropy; the clip thresholds are ordinary parameters.

    Args:
        ann: The prepared ANN (:func:`~snn_convert.prepare_qcfs_model`), trained in place.
        splits: Train and test datasets of ``(image [C, H, W], label)``.
        config: snn-core training settings. The conversion papers use SGD with momentum 0.9,
            weight decay 5e-4 and a cosine schedule.

    Returns:
        snn-core's training results (``test_accuracy`` as a fraction, history, timings).
    """
    return Trainer(SequenceOutput(ann), splits, config).fit()


def train_classifier(
    model: nn.Module, splits: DatasetSplits, config: TrainConfig
) -> dict[str, Any]:
    """Train a spiking network returning logits ``[T, B, K]`` (cross-entropy on the mean over T).

    Used for direct LM-HT training and for hybrid LM-HT fine-tuning.

    Returns:
        snn-core's training results.
    """
    return Trainer(model, splits, config).fit()
