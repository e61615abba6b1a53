"""The quantisation-clip-floor-shift (QCFS) activation that ANN-to-SNN conversion trains with."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["QCFS", "floor_ste"]


class _FloorSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        return torch.floor(x)

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> Tensor:
        return grad_output


def floor_ste(x: Tensor) -> Tensor:
    """Round ``x`` down in the forward pass and pass the gradient through unchanged (identity)."""
    return _FloorSTE.apply(x)


class QCFS(nn.Module):
    """Quantised clip-floor-shift activation with a learnable clip threshold.

    From "Optimal ANN-SNN Conversion for High-accuracy and Ultra-low-latency Spiking Neural Networks"
    (Bu et al., ICLR 2022), the activation every conversion method here starts from::

        a = lambda * clip(floor(z * L / lambda + 1/2) / L, 0, 1)

    ``lambda`` is one learnable scalar per layer and ``L`` the number of quantisation levels. The
    floor passes its gradient straight through, so gradients reach both ``z`` and ``lambda``. A soft-reset
    IF neuron with threshold ``lambda`` and initial potential ``lambda / 2`` that runs ``L`` steps on the
    constant input ``z`` emits exactly ``L * a / lambda`` spikes.

    Args:
        level: Quantisation level ``L`` (number of steps of the staircase), >= 1.
        threshold: Initial clip threshold ``lambda``, > 0. QCFS training starts from 8.0.

    Raises:
        ValueError: If ``level < 1`` or ``threshold <= 0``.
    """

    def __init__(self, level: int = 4, threshold: float = 8.0) -> None:
        super().__init__()
        if int(level) != level or level < 1:
            raise ValueError(f"QCFS level must be an integer >= 1, got {level!r}")
        if not threshold > 0:
            raise ValueError(f"QCFS threshold must be > 0, got {threshold!r}")
        self.level = int(level)
        self.threshold = nn.Parameter(torch.tensor(float(threshold)))

    def forward(self, z: Tensor) -> Tensor:
        """Apply the activation element-wise to pre-activations ``z`` of any shape."""
        threshold = self.threshold.to(z.dtype)
        steps = floor_ste(z * self.level / threshold + 0.5) / self.level
        return torch.clamp(steps, 0.0, 1.0) * threshold

    def extra_repr(self) -> str:
        return f"level={self.level}, threshold={float(self.threshold.detach()):.4g}"
