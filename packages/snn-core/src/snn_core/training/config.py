"""Training settings as a dataclass that round-trips through JSON."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

__all__ = ["TrainConfig"]


@dataclass
class TrainConfig:
    """Settings of :class:`snn_core.training.Trainer`.

    Attributes:
        epochs: Passes over the training split.
        batch_size: Samples per step on each process.
        lr: Initial learning rate.
        optimizer: "adam" (Adam) or "sgd" (SGD with Nesterov momentum).
        momentum: SGD momentum.
        weight_decay: L2 penalty on all parameters.
        scheduler: "cosine" anneals the learning rate to 0 over all epochs; "none" keeps it.
        seed: Seed of parameter initialisation, shuffling and stochastic encoders.
        device: "auto" (CUDA when available, else CPU), "cpu", "cuda" or "cuda:N".
        out_dir: Folder for the checkpoint, results JSON and log; None writes nothing.
        resume: Continue from the checkpoint in ``out_dir`` if one exists.
        max_grad_norm: Clip the global gradient norm to this value; None does not clip.
        num_workers: DataLoader worker processes.
        progress: Show a progress bar (only on the first process, and only on a terminal).
    """

    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: Literal["adam", "sgd"] = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    scheduler: Literal["cosine", "none"] = "cosine"
    seed: int = 0
    device: str = "auto"
    out_dir: str | None = None
    resume: bool = False
    max_grad_norm: float | None = None
    num_workers: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs (--epochs) must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size (--batch-size) must be at least 1, got {self.batch_size}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr (--lr) must be a positive number, got {self.lr}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(
                f"weight_decay (--weight-decay) must be a number >= 0, got {self.weight_decay}"
            )
        if self.max_grad_norm is not None and not (
            math.isfinite(self.max_grad_norm) and self.max_grad_norm > 0
        ):
            # A negative norm would flip the gradients' sign inside clip_grad_norm_.
            raise ValueError(
                f"max_grad_norm (--max-grad-norm) must be a positive number, got "
                f"{self.max_grad_norm}; leave it unset to train without clipping"
            )
        if self.resume and self.out_dir is None:
            raise ValueError(
                "resume (--resume) needs out_dir (--out-dir), the folder with the checkpoint"
            )
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"invalid optimizer {self.optimizer!r}; use 'adam' or 'sgd'")
        if self.scheduler not in ("cosine", "none"):
            raise ValueError(f"invalid scheduler {self.scheduler!r}; use 'cosine' or 'none'")

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as a JSON-able dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, settings: dict[str, Any]) -> TrainConfig:
        """Build a config from a dict, rejecting unknown keys.

        Raises:
            ValueError: If ``settings`` has a key that is not a field.
        """
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ValueError(f"unknown training settings {unknown}; known: {sorted(known)}")
        return cls(**settings)
