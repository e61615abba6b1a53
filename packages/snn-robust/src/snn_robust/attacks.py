"""L-infinity attacks on spiking classifiers: FGSM, PGD, and uniform noise of the same size.

Every attack takes a classifier whose ``forward(x [B, C, H, W])`` returns one logit vector per time
step, ``[T, B, K]``, or logits already averaged over time, ``[B, K]``. The prediction is the argmax of
the mean over T.
Inputs are images in [0, 1], and every adversarial image stays in [0, 1].

Gradients come from a :class:`~snn_robust.estimators.GradientEstimator`. The model runs in
``eval()`` mode while an attack differentiates it, and its train/eval flags are restored afterwards.
A stochastic encoder (for example snn_core's rate encoder) is differentiated through its
straight-through gradient; ``samples > 1`` averages the gradient over that many encoder draws.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from snn_robust.estimators import GradientEstimator, resolve_estimators

logger = logging.getLogger(__name__)

__all__ = [
    "AttackConfig",
    "AttackKind",
    "attack_mode",
    "check_images",
    "fgsm",
    "input_gradient",
    "mean_logits",
    "perturb",
    "pgd",
    "uniform_noise",
]

AttackKind = Literal["clean", "uniform", "fgsm", "pgd"]
_ATTACK_KINDS: tuple[str, ...] = get_args(AttackKind)


def mean_logits(model: nn.Module, x: Tensor) -> Tensor:
    """Run ``model`` on ``x`` and return the logits averaged over time.

    Args:
        model: A classifier returning ``[T, B, K]`` per-step logits or ``[B, K]`` logits.
        x: Images ``[B, C, H, W]``.

    Returns:
        Logits ``[B, K]``.

    Raises:
        ValueError: If the output is neither ``[T, B, K]`` nor ``[B, K]`` with ``B`` matching ``x``.
    """
    out = model(x)
    if out.dim() == 3 and out.shape[1] == x.shape[0]:
        return out.mean(dim=0)
    if out.dim() == 2 and out.shape[0] == x.shape[0]:
        return out
    raise ValueError(
        f"{type(model).__name__} returned shape {tuple(out.shape)} for a batch of {x.shape[0]}; "
        "a classifier must return logits [T, B, K] or [B, K]"
    )


def check_images(x: Tensor, labels: Tensor | None = None) -> None:
    """Validate a batch of images in [0, 1] and, optionally, its labels.

    Args:
        x: Images ``[B, C, H, W]`` (any shape with a leading batch dimension), floating point.
        labels: Class indices ``[B]``, integer.

    Raises:
        ValueError: If ``x`` is not floating point or leaves [0, 1], or the labels do not match.
    """
    if not x.is_floating_point():
        raise ValueError(f"images must be a floating-point tensor in [0, 1], got dtype {x.dtype}")
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise ValueError(
            f"images must lie in [0, 1], got values in [{float(x.min()):.4g}, {float(x.max()):.4g}]; "
            "attack the unnormalized image and normalize inside the model"
        )
    if labels is not None and (labels.dim() != 1 or labels.shape[0] != x.shape[0]):
        raise ValueError(f"labels must have shape [B] = [{x.shape[0]}], got {tuple(labels.shape)}")


def _check_eps(eps: float) -> float:
    if not (isinstance(eps, (int, float)) and math.isfinite(eps) and 0 <= eps <= 1):
        raise ValueError(
            f"eps must be in [0, 1] pixel units (8/255 = 0.031 is the usual CIFAR size), got "
            f"{eps!r}; for 0-255 pixel values divide by 255"
        )
    return float(eps)


@contextlib.contextmanager
def attack_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in ``eval()`` mode inside the block and restore every module's flag on exit."""
    flags = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in flags:
            module.training = training


def input_gradient(
    model: nn.Module,
    x: Tensor,
    labels: Tensor,
    estimator: str | GradientEstimator = "bptt",
    samples: int = 1,
) -> tuple[Tensor, Tensor]:
    """Compute the gradient of the cross-entropy loss with respect to the input images.

    The loss is the mean cross-entropy of the time-averaged logits. The model's own train/eval mode
    is used as it is; the attacks call this inside :func:`attack_mode`.

    Args:
        model: A classifier (see the module docstring).
        x: Images ``[B, C, H, W]`` in [0, 1].
        labels: True classes ``[B]``.
        estimator: How to differentiate the spiking neurons (a name or object, see
            :mod:`snn_robust.estimators`).
        samples: Number of forward/backward passes whose gradients are averaged; above 1 only helps
            models with a stochastic encoder.

    Returns:
        The gradient ``[B, C, H, W]`` (detached) and the time-averaged logits ``[B, K]`` of the first
        pass (detached).

    Raises:
        ValueError: If ``samples < 1``.
    """
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    (resolved,) = resolve_estimators(estimator)
    total = torch.zeros_like(x)
    first_logits: Tensor | None = None
    with resolved.applied(model):
        for _ in range(samples):
            x_in = x.detach().clone().requires_grad_(True)
            with torch.enable_grad():
                logits = mean_logits(model, x_in)
                loss = F.cross_entropy(logits, labels)
                (grad,) = torch.autograd.grad(loss, x_in, allow_unused=True)
            if grad is not None:
                total += grad
            if first_logits is None:
                first_logits = logits.detach()
    assert first_logits is not None
    return total / samples, first_logits


def uniform_noise(x: Tensor, eps: float, generator: torch.Generator | None = None) -> Tensor:
    """Add uniform noise ``U(-eps, eps)`` per pixel and clip to [0, 1].

    This is the random-perturbation baseline of the same L-infinity size as the attacks.

    Args:
        x: Images ``[B, C, H, W]`` in [0, 1].
        eps: Noise half-width, in pixel units.
        generator: Random generator on ``x``'s device, for reproducible noise.

    Returns:
        Noisy images, same shape as ``x``.

    Raises:
        ValueError: If ``eps`` is negative or not finite.
    """
    eps = _check_eps(eps)
    noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return (x + (2.0 * noise - 1.0) * eps).clamp(0.0, 1.0)


def fgsm(
    model: nn.Module,
    x: Tensor,
    labels: Tensor,
    eps: float,
    estimator: str | GradientEstimator = "bptt",
    samples: int = 1,
) -> Tensor:
    """Run the fast gradient sign method: ``x + eps * sign(grad_x loss)``, clipped to [0, 1].

    Args:
        model: A classifier (see the module docstring).
        x: Images ``[B, C, H, W]`` in [0, 1].
        labels: True classes ``[B]``.
        eps: Perturbation size (L-infinity), in pixel units.
        estimator: Gradient estimator name or object.
        samples: Gradient samples to average (for stochastic encoders).

    Returns:
        Adversarial images ``[B, C, H, W]`` in [0, 1], detached.

    Raises:
        ValueError: For images outside [0, 1] or a negative ``eps``.
    """
    eps = _check_eps(eps)
    check_images(x, labels)
    with attack_mode(model):
        grad, _ = input_gradient(model, x, labels, estimator, samples)
    return (x.detach() + eps * grad.sign()).clamp(0.0, 1.0)


def pgd(
    model: nn.Module,
    x: Tensor,
    labels: Tensor,
    eps: float,
    steps: int = 10,
    step_size: float | None = None,
    random_start: bool = True,
    estimator: str | GradientEstimator = "bptt",
    samples: int = 1,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Run projected gradient descent on the loss in the L-infinity ball of radius ``eps``.

    1. Start at ``x + U(-eps, eps)`` (``random_start``) or at ``x``, clipped to [0, 1].
    2. Repeat ``steps`` times: step ``step_size * sign(grad_x loss)``, then project back onto the
       ball around ``x`` and onto [0, 1].

    Args:
        model: A classifier (see the module docstring).
        x: Images ``[B, C, H, W]`` in [0, 1].
        labels: True classes ``[B]``.
        eps: Ball radius (L-infinity), in pixel units.
        steps: Number of gradient steps, >= 1.
        step_size: Size of one step in pixel units; None uses ``2.5 * eps / steps``.
        random_start: Start from a uniform random point in the ball.
        estimator: Gradient estimator name or object.
        samples: Gradient samples to average per step (for stochastic encoders).
        generator: Random generator on ``x``'s device for the random start.

    Returns:
        Adversarial images ``[B, C, H, W]`` within ``eps`` of ``x`` and in [0, 1], detached.

    Raises:
        ValueError: For images outside [0, 1], a negative ``eps``, ``steps < 1`` or a negative
            ``step_size``.
    """
    eps = _check_eps(eps)
    check_images(x, labels)
    if steps < 1:
        raise ValueError(f"PGD needs steps >= 1, got {steps}")
    alpha = 2.5 * eps / steps if step_size is None else _check_eps(step_size)

    x = x.detach()
    lower = (x - eps).clamp(min=0.0)
    upper = (x + eps).clamp(max=1.0)
    x_adv = uniform_noise(x, eps, generator) if random_start else x.clone()
    with attack_mode(model):
        for _ in range(steps):
            grad, _ = input_gradient(model, x_adv, labels, estimator, samples)
            x_adv = x_adv + alpha * grad.sign()
            x_adv = torch.maximum(torch.minimum(x_adv, upper), lower)
    return x_adv.detach()


@dataclass(frozen=True)
class AttackConfig:
    """One perturbation setting of a robustness evaluation.

    Attributes:
        kind: ``"clean"`` (no change), ``"uniform"`` (random noise), ``"fgsm"`` or ``"pgd"``.
        eps: L-infinity size, in [0, 1] pixel units.
        steps: PGD steps.
        step_size: PGD step size in pixel units; None uses ``2.5 * eps / steps``.
        random_start: PGD starts from a random point in the ball.
        samples: Gradient samples to average per step (for stochastic encoders).
    """

    kind: AttackKind = "pgd"
    eps: float = 0.1
    steps: int = 10
    step_size: float | None = None
    random_start: bool = True
    samples: int = 1

    def __post_init__(self) -> None:
        if self.kind not in _ATTACK_KINDS:
            raise ValueError(
                f"invalid attack kind {self.kind!r}; use one of {', '.join(_ATTACK_KINDS)}"
            )
        _check_eps(self.eps)
        if self.kind == "pgd" and self.steps < 1:
            raise ValueError(f"PGD needs steps >= 1, got {self.steps}")

    @property
    def label(self) -> str:
        """A short name for tables: ``clean``, ``uniform``, ``fgsm`` or ``pgd-10``."""
        return f"pgd-{self.steps}" if self.kind == "pgd" else self.kind

    @property
    def uses_gradient(self) -> bool:
        """Whether the attack needs a gradient estimator."""
        return self.kind in ("fgsm", "pgd")

    def to_dict(self) -> dict[str, Any]:
        """Return the setting as a JSON-able dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AttackConfig:
        """Build a setting from :meth:`to_dict` output."""
        return cls(**data)


def perturb(
    model: nn.Module,
    x: Tensor,
    labels: Tensor,
    config: AttackConfig,
    estimator: str | GradientEstimator = "bptt",
    generator: torch.Generator | None = None,
) -> Tensor:
    """Apply the perturbation that ``config`` describes.

    Args:
        model: A classifier (see the module docstring).
        x: Images ``[B, C, H, W]`` in [0, 1].
        labels: True classes ``[B]``.
        config: The perturbation.
        estimator: Gradient estimator for FGSM and PGD; ignored otherwise.
        generator: Random generator for uniform noise and the PGD random start.

    Returns:
        Perturbed images ``[B, C, H, W]`` in [0, 1].
    """
    if config.kind == "clean":
        return x.detach()
    if config.kind == "uniform":
        return uniform_noise(x.detach(), config.eps, generator)
    if config.kind == "fgsm":
        return fgsm(model, x, labels, config.eps, estimator, config.samples)
    return pgd(
        model,
        x,
        labels,
        config.eps,
        steps=config.steps,
        step_size=config.step_size,
        random_start=config.random_start,
        estimator=estimator,
        samples=config.samples,
        generator=generator,
    )
