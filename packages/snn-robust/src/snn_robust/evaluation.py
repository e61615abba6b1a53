"""Robust accuracy over a dataset, with the worst case over several gradient estimators.

An adversarial example made with one gradient estimator may fail where another succeeds, because a
surrogate can hide a model's real sensitivity (gradient masking). The ensemble evaluation therefore
attacks every sample once per estimator and counts it as robust only if the model classifies all of
the adversarial versions correctly, as "Enhancing Adversarial Robustness in SNNs with Sparse
Gradients" (Liu et al., ICML 2024) evaluates.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Subset

from snn_robust.attacks import AttackConfig, mean_logits, perturb
from snn_robust.estimators import GradientEstimator, resolve_estimators
from snn_robust.regularizer import two_class_probability

logger = logging.getLogger(__name__)

__all__ = [
    "RobustAccuracy",
    "gradient_norms",
    "make_loader",
    "robust_accuracy",
    "robustness_table",
]


@dataclass
class RobustAccuracy:
    """Accuracy of one model under one perturbation setting.

    Attributes:
        attack: The perturbation setting as a dict (see :class:`AttackConfig`).
        accuracy: Fraction of samples classified correctly; for gradient attacks, correctly under
            every estimator (the ensemble worst case).
        per_estimator: For gradient attacks, the accuracy under each estimator alone.
        samples: Number of samples evaluated.
        seconds: Wall-clock time of the evaluation.
    """

    attack: dict[str, Any]
    accuracy: float
    per_estimator: dict[str, float] = field(default_factory=dict)
    samples: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-able dict."""
        return asdict(self)


def make_loader(
    dataset: Dataset[Any], batch_size: int = 256, max_samples: int | None = None
) -> DataLoader[Any]:
    """Return an unshuffled loader over the first ``max_samples`` items of ``dataset`` (all if None)."""
    if max_samples is not None:
        if max_samples < 1:
            raise ValueError(f"max_samples must be >= 1 or None, got {max_samples}")
        dataset = Subset(dataset, range(min(max_samples, len(dataset))))  # type: ignore[arg-type]
    return DataLoader(dataset, batch_size=batch_size, shuffle=False)


def _batches(
    data: DataLoader[Any] | Iterable[tuple[Tensor, Tensor]], device: torch.device
) -> Iterable[tuple[Tensor, Tensor]]:
    for images, labels in data:
        yield images.to(device), labels.to(device)


@torch.no_grad()
def _correct(model: nn.Module, x: Tensor, labels: Tensor) -> Tensor:
    return mean_logits(model, x).argmax(dim=1) == labels


def robust_accuracy(
    model: nn.Module,
    data: DataLoader[Any] | Iterable[tuple[Tensor, Tensor]],
    config: AttackConfig,
    estimators: str | GradientEstimator | Sequence[str | GradientEstimator] = "ensemble",
    device: str | torch.device = "cpu",
    seed: int = 0,
) -> RobustAccuracy:
    """Measure accuracy under one perturbation setting.

    The model is evaluated in ``eval()`` mode; its flags are restored afterwards.

    Args:
        model: A classifier returning logits ``[T, B, K]`` or ``[B, K]`` for images ``[B, C, H, W]``.
        data: Batches of images ``[B, C, H, W]`` in [0, 1] and labels ``[B]``.
        config: The perturbation setting.
        estimators: Gradient estimators for FGSM/PGD (names, objects or ``"ensemble"``).
        device: Device to run on.
        seed: Seed of the generator for uniform noise and PGD random starts.

    Returns:
        The accuracy, and for gradient attacks the accuracy under each estimator.

    Raises:
        ValueError: If ``data`` is empty.
    """
    device = torch.device(device)
    resolved = resolve_estimators(estimators)
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    training = model.training
    model.eval()
    started = time.perf_counter()
    total = 0
    robust = 0
    per_estimator = {estimator.name: 0 for estimator in resolved}
    try:
        for images, labels in _batches(data, device):
            total += labels.shape[0]
            if not config.uses_gradient:
                x = perturb(model, images, labels, config, generator=generator)
                robust += int(_correct(model, x, labels).sum())
                continue
            survived = torch.ones_like(labels, dtype=torch.bool)
            for estimator in resolved:
                x = perturb(model, images, labels, config, estimator, generator)
                correct = _correct(model, x, labels)
                per_estimator[estimator.name] += int(correct.sum())
                survived &= correct
            robust += int(survived.sum())
    finally:
        model.train(training)
    if total == 0:
        raise ValueError("the evaluation data is empty; pass a dataset with at least one sample")

    result = RobustAccuracy(
        attack=config.to_dict(),
        accuracy=robust / total,
        per_estimator=(
            {name: count / total for name, count in per_estimator.items()}
            if config.uses_gradient
            else {}
        ),
        samples=total,
        seconds=time.perf_counter() - started,
    )
    logger.info(
        "%s eps=%g: accuracy %.4f on %d samples (%s) in %.1f s",
        config.label,
        config.eps,
        result.accuracy,
        total,
        ", ".join(f"{name} {acc:.4f}" for name, acc in result.per_estimator.items())
        or "no gradient",
        result.seconds,
    )
    return result


def robustness_table(
    model: nn.Module,
    data: DataLoader[Any],
    epsilons: Sequence[float] = (0.1, 0.3),
    pgd_steps: int = 10,
    pgd_step_size: float | None = None,
    estimators: str | GradientEstimator | Sequence[str | GradientEstimator] = "ensemble",
    device: str | torch.device = "cpu",
    seed: int = 0,
) -> list[RobustAccuracy]:
    """Measure clean accuracy, then uniform noise, FGSM and PGD accuracy at every ``eps``.

    Args:
        model: A classifier returning logits ``[T, B, K]`` or ``[B, K]``.
        data: Batches of images ``[B, C, H, W]`` in [0, 1] and labels ``[B]``; iterated once per
            row, so pass a re-iterable loader.
        epsilons: L-infinity sizes in pixel units.
        pgd_steps: PGD steps.
        pgd_step_size: PGD step size in pixel units; None uses ``2.5 * eps / steps``.
        estimators: Gradient estimators whose worst case counts (see :func:`robust_accuracy`).
        device: Device to run on.
        seed: Seed for noise and random starts.

    Returns:
        One result per row: clean first, then uniform, FGSM and PGD for each ``eps``.
    """
    rows = [robust_accuracy(model, data, AttackConfig("clean", 0.0), estimators, device, seed)]
    for eps in epsilons:
        settings = [
            AttackConfig("uniform", eps),
            AttackConfig("fgsm", eps),
            AttackConfig("pgd", eps, steps=pgd_steps, step_size=pgd_step_size),
        ]
        for config in settings:
            rows.append(robust_accuracy(model, data, config, estimators, device, seed))
    return rows


def gradient_norms(
    model: nn.Module,
    data: DataLoader[Any] | Iterable[tuple[Tensor, Tensor]],
    estimator: str | GradientEstimator = "bptt",
    device: str | torch.device = "cpu",
) -> dict[str, float]:
    """Measure the mean L1 and L2 norms of the input gradient of the two-class probability.

    The two-class probability is the softmax over the true class and its strongest competitor (see
    :func:`snn_robust.regularizer.two_class_probability`); a small L1 norm is what gradient-sparsity
    regularization aims for.

    Args:
        model: A classifier returning logits ``[T, B, K]`` or ``[B, K]``.
        data: Batches of images ``[B, C, H, W]`` and labels ``[B]``.
        estimator: How to differentiate the spiking neurons.
        device: Device to run on.

    Returns:
        ``{"l1": mean L1 norm, "l2": mean L2 norm, "samples": count}`` (norms in probability per
        pixel unit).
    """
    device = torch.device(device)
    (resolved,) = resolve_estimators(estimator)
    training = model.training
    model.eval()
    l1 = 0.0
    l2 = 0.0
    total = 0
    try:
        with resolved.applied(model):
            for images, labels in _batches(data, device):
                x = images.detach().clone().requires_grad_(True)
                with torch.enable_grad():
                    probability, _ = two_class_probability(mean_logits(model, x), labels)
                    (grad,) = torch.autograd.grad(probability.sum(), x)
                flat = grad.flatten(1)
                l1 += float(flat.abs().sum(dim=1).sum())
                l2 += float(flat.norm(dim=1).sum())
                total += labels.shape[0]
    finally:
        model.train(training)
    if total == 0:
        raise ValueError("the evaluation data is empty; pass a dataset with at least one sample")
    return {"l1": l1 / total, "l2": l2 / total, "samples": float(total)}
