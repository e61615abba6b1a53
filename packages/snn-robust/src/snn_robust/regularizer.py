"""Gradient-sparsity regularization by a finite difference along the sign of the input gradient.

From "Enhancing Adversarial Robustness in SNNs with Sparse Gradients" (Liu, Bu, Ding, Hao, Huang, Yu;
ICML 2024): the gap between a model's accuracy under random and under adversarial perturbations is
bounded by how sparse the input gradient of its true-label probability is. Training therefore
penalizes that gradient. The L1 norm of a gradient ``g`` equals the directional derivative along
``sign(g)``, ``<g, sign(g)> = ||g||_1``, which one extra forward pass estimates by a finite difference,
so no second-order graph is needed.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "RegularizerConfig",
    "RegularizerOutput",
    "regularized_loss",
    "sign_finite_difference",
    "two_class_probability",
]


@dataclass(frozen=True)
class RegularizerConfig:
    """Settings of the gradient-sparsity regularizer.

    Attributes:
        lam: Weight ``lambda`` of the penalty ``mean(d^2)`` in the loss; 0 gives plain cross-entropy.
        h: Finite-difference step along ``sign(grad)``, in [0, 1] pixel units.
    """

    lam: float = 0.1
    h: float = 0.01

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lam) and self.lam >= 0):
            raise ValueError(f"lam must be a finite number >= 0, got {self.lam!r}")
        if not (math.isfinite(self.h) and self.h > 0):
            raise ValueError(
                f"h must be a finite number > 0 (pixel units, e.g. 0.01), got {self.h!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as a JSON-able dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RegularizerConfig:
        """Build the settings from :meth:`to_dict` output."""
        return cls(**data)


def two_class_probability(
    logits: Tensor, labels: Tensor, competitor: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Compute the probability of the true class against its strongest competitor.

    ``p = exp(z_y) / (exp(z_y) + exp(z_c)) = sigmoid(z_y - z_c)`` with ``c = argmax_{k != y} z_k``.

    Args:
        logits: Time-averaged logits ``[B, K]``, K >= 2.
        labels: True classes ``[B]``.
        competitor: Competitor classes ``[B]`` to reuse; None picks the strongest wrong class of
            ``logits`` (chosen without gradient).

    Returns:
        The probability ``[B]`` (differentiable) and the competitor classes ``[B]``.

    Raises:
        ValueError: If ``logits`` is not ``[B, K]`` with K >= 2 or the labels do not match.
    """
    if logits.dim() != 2 or logits.shape[1] < 2:
        raise ValueError(f"logits must have shape [B, K] with K >= 2, got {tuple(logits.shape)}")
    if labels.shape != logits.shape[:1]:
        raise ValueError(
            f"labels must have shape [B] = [{logits.shape[0]}], got {tuple(labels.shape)}"
        )
    if competitor is None:
        masked = logits.detach().clone()
        masked.scatter_(1, labels.unsqueeze(1), float("-inf"))
        competitor = masked.argmax(dim=1)
    true_logit = logits.gather(1, labels.unsqueeze(1)).squeeze(1)
    competitor_logit = logits.gather(1, competitor.unsqueeze(1)).squeeze(1)
    return torch.sigmoid(true_logit - competitor_logit), competitor


@dataclass
class RegularizerOutput:
    """The pieces of one regularized loss evaluation.

    Attributes:
        loss: ``cross_entropy + lam * penalty``, a scalar with gradient.
        cross_entropy: Cross-entropy of the first forward pass, a scalar with gradient.
        penalty: ``mean(d^2)``, a scalar with gradient.
        difference: The finite differences ``d`` ``[B]``, with gradient.
        logits: Time-averaged logits of the first forward pass ``[B, K]``, with gradient.
    """

    loss: Tensor
    cross_entropy: Tensor
    penalty: Tensor
    difference: Tensor
    logits: Tensor


def _mean_logits(model: nn.Module, x: Tensor) -> Tensor:
    out = model(x)
    return out.mean(dim=0) if out.dim() == 3 else out


def sign_finite_difference(
    model: nn.Module, x: Tensor, labels: Tensor, h: float = 0.01
) -> tuple[Tensor, Tensor]:
    """Estimate ``||grad_x p||_1`` per sample by a finite difference along ``sign(grad_x p)``.

    1. Forward ``z = f(x)`` (time-averaged logits) and the two-class probability ``p(x)``.
    2. ``g = grad_x p(x)`` by first-order autograd; the forward graph is kept for the loss.
    3. ``v = sign(g)``, detached; second forward at ``x' = x + h v`` (not clipped to [0, 1], so the
       step is the same along every pixel), with the same competitor class.
    4. ``d = (p(x') - p(x)) / h``, which approaches ``<g, sign(g)> = ||g||_1`` as ``h -> 0``.

    The model's train/eval mode is left as it is, so batch-norm layers see both forwards in training.

    Args:
        model: A classifier returning logits ``[T, B, K]`` or ``[B, K]`` for ``x [B, C, H, W]``.
        x: Images ``[B, C, H, W]``.
        labels: True classes ``[B]``.
        h: Step size in pixel units, > 0.

    Returns:
        ``d`` ``[B]`` with gradient to the model's parameters, and the first forward's logits
        ``[B, K]`` with gradient.

    Raises:
        ValueError: If ``h <= 0``.
    """
    if not (math.isfinite(h) and h > 0):
        raise ValueError(f"h must be a finite number > 0, got {h!r}")
    x_in = x.detach().clone().requires_grad_(True)
    logits = _mean_logits(model, x_in)
    probability, competitor = two_class_probability(logits, labels)
    (grad,) = torch.autograd.grad(
        probability.sum(), x_in, retain_graph=True, create_graph=False, allow_unused=True
    )
    direction = torch.zeros_like(x_in) if grad is None else grad.sign().detach()

    shifted_logits = _mean_logits(model, x.detach() + h * direction)
    shifted, _ = two_class_probability(shifted_logits, labels, competitor)
    return (shifted - probability) / h, logits


def regularized_loss(
    model: nn.Module, x: Tensor, labels: Tensor, config: RegularizerConfig | None = None
) -> RegularizerOutput:
    """Compute ``cross_entropy + lam * mean(d^2)`` with ``d`` from :func:`sign_finite_difference`.

    With ``lam = 0`` only one forward pass runs and the penalty is reported as 0.

    Args:
        model: A classifier returning logits ``[T, B, K]`` or ``[B, K]``.
        x: Images ``[B, C, H, W]``.
        labels: True classes ``[B]``.
        config: ``lam`` and ``h``; None uses the defaults.

    Returns:
        The loss and its parts; back-propagate ``output.loss``.
    """
    config = config or RegularizerConfig()
    if config.lam == 0:
        logits = _mean_logits(model, x)
        cross_entropy = F.cross_entropy(logits, labels)
        zero = cross_entropy.new_zeros(())
        return RegularizerOutput(
            cross_entropy, cross_entropy, zero, zero.expand(len(labels)), logits
        )

    difference, logits = sign_finite_difference(model, x, labels, config.h)
    cross_entropy = F.cross_entropy(logits, labels)
    penalty = difference.pow(2).mean()
    return RegularizerOutput(
        loss=cross_entropy + config.lam * penalty,
        cross_entropy=cross_entropy,
        penalty=penalty,
        difference=difference,
        logits=logits,
    )
