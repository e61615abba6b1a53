"""Integrate-and-fire (IF) and leaky integrate-and-fire (LIF) neurons."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from snn_core._checks import flag, real
from snn_core.neuron.base import BaseNeuron, compute_dtype
from snn_core.neuron.fused import FusedSpec, fused_multistep
from snn_core.registry import NEURONS

__all__ = ["IFNeuron", "LIFNeuron"]

# Methods whose override in a subclass changes the dynamics, so the fused kernel no longer applies.
_DYNAMICS_METHODS = ("charge", "fire", "reset", "step", "prepare_sequence", "initial_state")


def _overrides_dynamics(neuron: BaseNeuron, defining_class: type) -> bool:
    return any(
        getattr(type(neuron), name) is not getattr(defining_class, name)
        for name in _DYNAMICS_METHODS
    )


@NEURONS.register("if")
class IFNeuron(BaseNeuron):
    """Integrate-and-fire neuron: ``h[t] = v[t-1] + x[t]``, then fire and reset.

    Takes the keyword arguments of :class:`BaseNeuron`. With ``reset_mode="soft"`` and
    ``v_init = v_threshold / 2`` it is the neuron that ANN-to-SNN conversion uses.
    """

    def charge(self, x_t: Tensor, v: Tensor) -> Tensor:
        return v + x_t

    def has_fused_kernel(self) -> bool:
        return not _overrides_dynamics(self, IFNeuron)

    def _forward_fused(self, x_seq: Tensor, compiled: bool) -> Tensor | None:
        if not self.has_fused_kernel():
            return None
        spec = FusedSpec(
            has_leak=False,
            decay_input=False,
            reset_mode=self.reset_mode,
            v_reset=self.v_reset,
            detach_reset=self.detach_reset,
            surrogate=self.surrogate,
        )
        return _run_fused(self, spec, x_seq, decay=None, compiled=compiled)


@NEURONS.register("lif")
class LIFNeuron(BaseNeuron):
    """Leaky integrate-and-fire neuron with time constant ``tau`` (in time steps).

    Charge, with ``k = 1 / tau``::

        h[t] = v[t-1] + k (x[t] - (v[t-1] - v_reset))     decay_input=True  (SpikingJelly's default)
        h[t] = v[t-1] - k (v[t-1] - v_reset) + x[t]       decay_input=False

    Args:
        tau: Membrane time constant in time steps, > 1.
        decay_input: Whether the input is scaled by ``1 / tau`` as well as the leak.
        learnable_decay: Learn ``1 / tau = sigmoid(w)`` (the parametric LIF of Fang et al., 2021),
            with ``w`` initialised from ``tau``.
        **kwargs: The keyword arguments of :class:`BaseNeuron`.

    Raises:
        ValueError: If ``tau <= 1``.
    """

    def __init__(
        self,
        *,
        tau: float = 2.0,
        decay_input: bool = True,
        learnable_decay: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        tau = real("tau", tau)
        if tau <= 1.0:
            raise ValueError(f"tau must be greater than 1 time step, got {tau!r}")
        self.decay_input = flag("decay_input", decay_input)
        self.learnable_decay = flag("learnable_decay", learnable_decay)
        if self.learnable_decay:
            self.decay_logit: nn.Parameter | None = nn.Parameter(torch.tensor(-math.log(tau - 1.0)))
            self._tau = None
        else:
            self.decay_logit = None
            self._tau = float(tau)

    @property
    def decay(self) -> Tensor | float:
        """``1 / tau``: a tensor with a gradient when the decay is learnable, else a float."""
        if self.decay_logit is not None:
            return torch.sigmoid(self.decay_logit)
        assert self._tau is not None
        return 1.0 / self._tau

    @property
    def tau(self) -> float:
        """The current time constant in time steps."""
        decay = self.decay
        return 1.0 / float(decay.detach() if isinstance(decay, torch.Tensor) else decay)

    def charge(self, x_t: Tensor, v: Tensor) -> Tensor:
        decay = self.decay
        if self.decay_input:
            return v + (x_t - (v - self.v_reset)) * decay
        return v - (v - self.v_reset) * decay + x_t

    def has_fused_kernel(self) -> bool:
        return not _overrides_dynamics(self, LIFNeuron)

    def _forward_fused(self, x_seq: Tensor, compiled: bool) -> Tensor | None:
        if not self.has_fused_kernel():
            return None
        spec = FusedSpec(
            has_leak=True,
            decay_input=self.decay_input,
            reset_mode=self.reset_mode,
            v_reset=self.v_reset,
            detach_reset=self.detach_reset,
            surrogate=self.surrogate,
        )
        return _run_fused(self, spec, x_seq, decay=self.decay, compiled=compiled)

    def config(self) -> dict[str, Any]:
        return {
            **super().config(),
            "tau": self.tau,
            "decay_input": self.decay_input,
            "learnable_decay": self.learnable_decay,
        }

    def extra_repr(self) -> str:
        return f"tau={self.tau:g}, decay_input={self.decay_input}, " + super().extra_repr()


def _as_scalar_tensor(value: Tensor | float, like: Tensor) -> Tensor:
    if isinstance(value, Tensor):
        return value.to(device=like.device, dtype=like.dtype)
    return torch.tensor(value, device=like.device, dtype=like.dtype)


def _run_fused(
    neuron: BaseNeuron, spec: FusedSpec, x_seq: Tensor, decay: Tensor | float | None, compiled: bool
) -> Tensor:
    dtype = compute_dtype(x_seq.dtype)
    x = x_seq.to(dtype)
    v0 = neuron.initial_potential_like(x[0])
    threshold = _as_scalar_tensor(neuron.v_threshold, x)
    decay_tensor = _as_scalar_tensor(0.0 if decay is None else decay, x)
    spikes = fused_multistep(spec, x, v0, threshold, decay_tensor, compiled=compiled)
    return spikes.to(x_seq.dtype)
