"""Vanilla, gradient-sparsity regularized and adversarial training on snn-core's trainer.

snn-core's :class:`~snn_core.training.Trainer` accepts a loss function of ``(model, images, labels)``,
which is enough for both additions: the regularizer runs its second forward pass inside the loss, and
adversarial training replaces the batch there before the loss is computed.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from snn_core.checkpoint import load_checkpoint, save_checkpoint
from snn_core.datasets.base import DatasetSplits
from snn_core.registry import MODELS
from snn_core.training import TrainConfig, Trainer
from snn_robust.attacks import AttackConfig, mean_logits, perturb
from snn_robust.estimators import resolve_estimators
from snn_robust.regularizer import RegularizerConfig, regularized_loss

logger = logging.getLogger(__name__)

__all__ = [
    "AdversarialMode",
    "ModelSpec",
    "RobustLoss",
    "RobustTrainConfig",
    "evaluate_clean",
    "load_model",
    "save_model",
    "train_robust",
]

AdversarialMode = Literal["none", "fgsm", "pgd"]
_ADVERSARIAL_MODES: tuple[str, ...] = get_args(AdversarialMode)


@dataclass
class RobustTrainConfig:
    """The robustness settings of :func:`train_robust`; epochs, optimizer and the rest are in
    :class:`snn_core.training.TrainConfig`.

    Attributes:
        lam: Weight of the gradient-sparsity penalty; 0 trains with plain cross-entropy.
        h: Finite-difference step of the penalty, in pixel units.
        adversarial: ``"none"``, or replace every batch by FGSM or PGD examples of the current
            model, made in eval mode.
        adversarial_eps: L-infinity size of the training attack, in pixel units.
        adversarial_steps: PGD steps of the training attack.
        adversarial_step_size: PGD step size in pixel units; None uses ``2.5 * eps / steps``.
        adversarial_estimator: Gradient estimator of the training attack.
    """

    lam: float = 0.0
    h: float = 0.01
    adversarial: AdversarialMode = "none"
    adversarial_eps: float = 0.1
    adversarial_steps: int = 5
    adversarial_step_size: float | None = None
    adversarial_estimator: str = "bptt"

    def __post_init__(self) -> None:
        if self.adversarial not in _ADVERSARIAL_MODES:
            raise ValueError(
                f"invalid adversarial mode {self.adversarial!r}; use one of "
                f"{', '.join(_ADVERSARIAL_MODES)}"
            )
        RegularizerConfig(self.lam, self.h)  # validates lam and h
        if self.adversarial != "none":
            self.attack()  # validates eps and steps
            resolve_estimators(self.adversarial_estimator)

    @property
    def method(self) -> str:
        """A short label: ``vanilla`` or ``regularized``, with ``+fgsm-at`` or ``+pgd-at`` appended."""
        base = "regularized" if self.lam > 0 else "vanilla"
        return base if self.adversarial == "none" else f"{base}+{self.adversarial}-at"

    def attack(self) -> AttackConfig | None:
        """Return the training attack, or None without adversarial training."""
        if self.adversarial == "none":
            return None
        return AttackConfig(
            self.adversarial,
            self.adversarial_eps,
            steps=self.adversarial_steps,
            step_size=self.adversarial_step_size,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as a JSON-able dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RobustTrainConfig:
        """Build the settings from :meth:`to_dict` output."""
        return cls(**data)


class RobustLoss:
    """The loss function :class:`snn_core.training.Trainer` calls: ``(model, images, labels)``.

    1. With adversarial training, replace ``images`` by FGSM/PGD examples of the current model
       (the attack runs in eval mode and restores train mode).
    2. Return ``CE + lam * mean(d^2)`` (see :func:`snn_robust.regularizer.regularized_loss`) and the
       time-averaged logits.

    The cross-entropy and penalty of every call are kept in ``records`` for the results file.

    Args:
        config: The robustness settings.
        seed: Seed of the training attack's random starts.
    """

    def __init__(self, config: RobustTrainConfig, seed: int = 0) -> None:
        self.config = config
        self.regularizer = RegularizerConfig(config.lam, config.h)
        self.attack = config.attack()
        self.seed = seed
        self._generators: dict[torch.device, torch.Generator] = {}
        self.records: list[tuple[float, float]] = []

    def _generator(self, device: torch.device) -> torch.Generator:
        if device not in self._generators:
            generator = torch.Generator(device=device)
            generator.manual_seed(self.seed)
            self._generators[device] = generator
        return self._generators[device]

    def __call__(self, model: nn.Module, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """Compute the loss on ``images [B, C, H, W]`` and ``labels [B]``, and return it with the logits."""
        if self.attack is not None:
            images = perturb(
                model,
                images,
                labels,
                self.attack,
                self.config.adversarial_estimator,
                self._generator(images.device),
            )
        output = regularized_loss(model, images, labels, self.regularizer)
        self.records.append((output.cross_entropy.item(), output.penalty.item()))
        return output.loss, output.logits.detach()


@dataclass
class ModelSpec:
    """A registered model's name and factory keyword arguments, enough to rebuild it.

    Attributes:
        name: Registered model name, such as ``"spiking-cnn"``.
        kwargs: Factory keyword arguments (``in_channels``, ``num_classes``, ``image_size``,
            ``time_steps`` and model-specific ones), JSON-able.
    """

    name: str
    kwargs: dict[str, Any]

    def build(self) -> nn.Module:
        """Build the model from the registry."""
        return MODELS.build(self.name, **self.kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Return the spec as a JSON-able dict."""
        return {"name": self.name, "kwargs": self.kwargs}


def save_model(
    path: str | Path, model: nn.Module, spec: ModelSpec, metadata: dict[str, Any]
) -> Path:
    """Write the model's state dict and ``{"model": spec, **metadata}`` as a safetensors checkpoint.

    Returns:
        The checkpoint path without suffix.
    """
    tensors = {name: tensor for name, tensor in model.state_dict().items()}
    return save_checkpoint(path, tensors, {"model": spec.to_dict(), **metadata})


def load_model(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a model saved by :func:`save_model` and load its weights.

    Returns:
        The model on ``device`` in eval mode, and the checkpoint's metadata.

    Raises:
        FileNotFoundError: If the checkpoint files are missing.
        ValueError: If the metadata has no model spec.
    """
    tensors, metadata = load_checkpoint(path, device=device)
    if "model" not in metadata:
        raise ValueError(
            f"checkpoint {path} has no 'model' entry in its JSON; write it with snn_robust.save_model"
        )
    spec = ModelSpec(**metadata["model"])
    model = spec.build().to(device)
    model.load_state_dict(tensors)
    model.eval()
    return model, metadata


@torch.no_grad()
def evaluate_clean(
    model: nn.Module,
    dataset: Dataset[Any],
    batch_size: int = 256,
    device: str | torch.device = "cpu",
) -> float:
    """Return the clean accuracy of ``model`` (eval mode) on ``dataset``; the mode is restored."""
    training = model.training
    model.eval()
    correct = 0
    total = 0
    try:
        for images, labels in DataLoader(dataset, batch_size=batch_size):
            images, labels = images.to(device), labels.to(device)
            correct += int((mean_logits(model, images).argmax(1) == labels).sum())
            total += labels.shape[0]
    finally:
        model.train(training)
    return correct / max(total, 1)


def train_robust(
    model: nn.Module,
    splits: DatasetSplits,
    train_config: TrainConfig,
    robust_config: RobustTrainConfig | None = None,
) -> dict[str, Any]:
    """Train ``model`` with snn-core's trainer and the robust loss.

    Args:
        model: A classifier returning logits ``[T, B, K]`` for images ``[B, C, H, W]`` in [0, 1].
        splits: Train and test datasets (the test part is evaluated clean after every epoch).
        train_config: Epochs, optimizer, learning rate, seed, device and output folder.
        robust_config: Regularizer and adversarial-training settings; None trains vanilla.

    Returns:
        The trainer's results (test accuracy, history, timings, environment) plus ``"robust_config"``,
        ``"method"`` and the mean cross-entropy and penalty of every epoch in
        ``"penalty_history"``. With ``out_dir`` set, the trainer writes its checkpoint there.

    Raises:
        FloatingPointError: If the loss becomes NaN or infinite; lower ``lr`` or ``lam``.
    """
    robust_config = robust_config or RobustTrainConfig()
    loss = RobustLoss(robust_config, seed=train_config.seed)
    trainer = Trainer(model, splits, train_config, loss_fn=loss)
    results = trainer.fit()

    steps_per_epoch = max(1, math.ceil(len(splits.train) / train_config.batch_size))  # type: ignore[arg-type]
    penalty_history = []
    for start in range(0, len(loss.records), steps_per_epoch):
        chunk = loss.records[start : start + steps_per_epoch]
        penalty_history.append(
            {
                "cross_entropy": sum(record[0] for record in chunk) / len(chunk),
                "penalty": sum(record[1] for record in chunk) / len(chunk),
            }
        )
    results["robust_config"] = robust_config.to_dict()
    results["method"] = robust_config.method
    results["penalty_history"] = penalty_history
    return results
