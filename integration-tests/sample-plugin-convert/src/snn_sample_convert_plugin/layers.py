"""A clipped ReLU with a fixed bound, and its spiking form."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from snn_convert import TimeFoldedLayer, register_leaf_module
from snn_core.neuron import IFNeuron

__all__ = ["ClipIF", "ClipReLU"]


@register_leaf_module
class ClipReLU(nn.Module):
    """Apply ``clamp(x, 0, bound)`` element-wise.

    Args:
        bound: The clip value, > 0.

    Raises:
        ValueError: If ``bound <= 0``.
    """

    def __init__(self, bound: float = 1.0) -> None:
        super().__init__()
        if not bound > 0:
            raise ValueError(f"ClipReLU bound must be > 0, got {bound!r}")
        self.bound = float(bound)

    def forward(self, x: Tensor) -> Tensor:
        """Clip ``x`` of any shape to ``[0, bound]``."""
        return torch.clamp(x, 0.0, self.bound)


class ClipIF(TimeFoldedLayer):
    """Soft-reset IF layer whose firing rate times ``bound`` approximates ``ClipReLU(bound)``.

    Args:
        bound: The clip value of the ANN layer; the neuron's threshold.
    """

    def __init__(self, bound: float) -> None:
        super().__init__()
        self.bound = float(bound)
        self.neuron = IFNeuron(v_threshold=self.bound, v_init=self.bound / 2, reset_mode="soft")

    def forward(self, x: Tensor) -> Tensor:
        """Map a time-folded input ``[S * B, ...]`` to ``bound * spikes`` of the same shape."""
        return self.fold(self.neuron(self.unfold(x)) * self.bound)
