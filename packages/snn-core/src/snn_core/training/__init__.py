"""Direct training of spiking classifiers: settings, the BPTT trainer, evaluation, results files."""

from snn_core.training.config import TrainConfig
from snn_core.training.results import environment_record, write_results
from snn_core.training.trainer import (
    LossFunction,
    Trainer,
    cross_entropy_on_mean_logits,
    evaluate,
    resolve_device,
)

__all__ = [
    "LossFunction",
    "TrainConfig",
    "Trainer",
    "cross_entropy_on_mean_logits",
    "environment_record",
    "evaluate",
    "resolve_device",
    "write_results",
]
