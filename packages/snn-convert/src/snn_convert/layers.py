"""Spiking layers that run inside a time-folded network.

A converted network keeps the ANN's graph. Every stateless layer (conv, linear, pooling, additions)
acts on the time-folded batch ``[S * B, ...]``, and only the spiking layers unfold it to
``[S, B, ...]``, run their neuron over the whole sequence and fold it back. A spiking layer thus
receives its full input sequence at once, which offset-spike calibration and LM-HT's temporal
mixing need.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

import torch
from torch import Tensor, nn

from snn_convert.calibration import (
    cos_initial_potential,
    desired_spike_count,
    simulate_if,
    srp_mask,
)
from snn_core.neuron import BaseNeuron, IFNeuron

__all__ = [
    "IFActivation",
    "MaskStatistics",
    "NeuronActivation",
    "OffsetStatistics",
    "SimulationMethod",
    "TimeFoldedLayer",
]

SimulationMethod = Literal["plain", "cos", "srp"]
_METHODS: tuple[str, ...] = get_args(SimulationMethod)


class TimeFoldedLayer(nn.Module):
    """Base class of layers that receive a time-folded tensor ``[S * B, ...]``.

    The network that owns the layer sets :attr:`sequence_length` (``S``) before each forward. A
    layer that a ``snn_convert_layer`` hook returns subclasses this to learn ``S``.
    """

    sequence_length: int = 1

    def unfold(self, x: Tensor) -> Tensor:
        """Reshape ``[S * B, ...]`` to ``[S, B, ...]``.

        Raises:
            ValueError: If the leading dimension is not a multiple of ``S``.
        """
        steps = self.sequence_length
        if x.shape[0] % steps != 0:
            raise ValueError(
                f"{type(self).__name__} got a time-folded batch of {x.shape[0]} rows, not a multiple "
                f"of the sequence length {steps}; run the layer inside a SpikingNetwork"
            )
        return x.reshape(steps, x.shape[0] // steps, *x.shape[1:])

    @staticmethod
    def fold(x: Tensor) -> Tensor:
        """Reshape ``[S, B, ...]`` to ``[S * B, ...]``."""
        return x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])


@dataclass
class OffsetStatistics:
    """Histogram of offset spikes ``|psi|`` = 0, 1, 2, 3+ of one layer, before and after calibration.

    ``before`` counts a plain IF neuron starting from ``theta / 2``, ``after`` the calibrated neuron,
    both over the same ``window`` input steps. ``*_ann_zero`` counts neurons whose QCFS count is 0 but
    which fired (the dominant error category of residual-membrane-potential methods).
    """

    window: int
    before: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    after: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    before_ann_zero: int = 0
    after_ann_zero: int = 0
    neurons: int = 0

    def add(self, psi_before: Tensor, psi_after: Tensor, desired: Tensor) -> None:
        """Add the offsets ``[B, ...]`` of one batch and its QCFS counts ``desired [B, ...]``."""
        for histogram, psi in ((self.before, psi_before), (self.after, psi_after)):
            magnitude = psi.abs().clamp(max=3).long().flatten()
            counts = torch.bincount(magnitude, minlength=4)
            for i in range(4):
                histogram[i] += int(counts[i])
        zero = desired == 0
        self.before_ann_zero += int((zero & (psi_before > 0)).sum())
        self.after_ann_zero += int((zero & (psi_after > 0)).sum())
        self.neurons += desired.numel()

    def fractions(self) -> dict[str, list[float]]:
        """Return the histograms as fractions of all neurons."""
        total = max(self.neurons, 1)
        return {
            "before": [n / total for n in self.before],
            "after": [n / total for n in self.after],
        }


@dataclass
class MaskStatistics:
    """Counts of one layer's SRP mask against the QCFS counts of the tau pre-steps.

    ``desired`` is ``clip(floor(sum x / theta + 1/2), 0, tau)``, the QCFS output of level ``tau`` on the
    same mean input. ``ann_zero_fired`` counts neurons with ``desired == 0`` that spiked in the
    pre-steps; ``ann_zero_fired_kept`` those of them the mask keeps; ``silenced_ann_positive`` the
    neurons the mask silences although ``desired > 0``.
    """

    neurons: int = 0
    silenced: int = 0
    ann_zero_fired: int = 0
    ann_zero_fired_kept: int = 0
    silenced_ann_positive: int = 0

    def add(self, count: Tensor, desired: Tensor, mask: Tensor) -> None:
        """Add one batch: pre-step spike counts, QCFS counts and the mask, each ``[B, ...]``."""
        keep = mask > 0
        zero_fired = (desired == 0) & (count > 0)
        self.neurons += desired.numel()
        self.silenced += int((~keep).sum())
        self.ann_zero_fired += int(zero_fired.sum())
        self.ann_zero_fired_kept += int((zero_fired & keep).sum())
        self.silenced_ann_positive += int((~keep & (desired > 0)).sum())


class IFActivation(TimeFoldedLayer):
    """A soft-reset IF neuron that replaces one QCFS activation of the ANN.

    The neuron works in normalised units, as the reference conversion code does: the input is divided
    by ``theta`` (the QCFS clip threshold), the neuron has threshold 1 and starts from ``1/2``, and each
    spike is multiplied by ``theta`` on output. The neuron is snn-core's ``IFNeuron`` with
    ``reset_mode="soft"``.

    Methods (set with :meth:`configure`):

    * ``"plain"``: run the ``S`` steps from ``theta / 2``.
    * ``"cos"``: pre-simulate the first ``presim_steps`` (rho) inputs, shift each neuron's initial
      potential by the offset-spike rule (:func:`cos_initial_potential`), then run all ``S`` steps
      again from the start. ``S`` must be at least rho.
    * ``"srp"``: run the first ``presim_steps`` (tau) steps normally, keep a mask of neurons whose
      residual potential is positive, restart the others from ``theta / 2`` and silence the masked-out
      neurons for the remaining ``S - tau`` steps.

    Args:
        threshold: The QCFS clip threshold ``theta`` (> 0).

    Raises:
        ValueError: If ``threshold <= 0``.
    """

    def __init__(self, threshold: float) -> None:
        super().__init__()
        if not threshold > 0:
            raise ValueError(f"IFActivation threshold must be > 0, got {threshold!r}")
        self.register_buffer("threshold", torch.tensor(float(threshold)))
        self.neuron = IFNeuron(
            v_threshold=1.0,
            reset_mode="soft",
            v_init=0.5,
            surrogate="rectangle",
            backend="reference",
        )
        self.method: SimulationMethod = "plain"
        self.presim_steps = 0
        self.cos_rounds = 1
        self.offset_statistics: OffsetStatistics | None = None
        self.mask_statistics: MaskStatistics | None = None

    def configure(
        self, method: SimulationMethod, presim_steps: int = 0, cos_rounds: int = 1
    ) -> None:
        """Select the simulation method and its number of pre-simulation steps.

        Raises:
            ValueError: For an unknown method, ``presim_steps < 0``, or cos/srp with 0 pre-steps.
        """
        if method not in _METHODS:
            raise ValueError(f"invalid method {method!r}; use one of {', '.join(_METHODS)}")
        if presim_steps < 0 or (method != "plain" and presim_steps < 1):
            raise ValueError(
                f"method {method!r} needs presim_steps >= {0 if method == 'plain' else 1}, "
                f"got {presim_steps}"
            )
        self.method = method
        self.presim_steps = int(presim_steps)
        self.cos_rounds = int(cos_rounds)

    def forward(self, x: Tensor) -> Tensor:
        """Map the time-folded input current ``[S * B, ...]`` to outputs ``theta * spikes``."""
        theta = self.threshold.to(x.dtype)
        x_seq = self.unfold(x) / theta
        if self.method == "plain":
            spikes = self.neuron(x_seq)
        elif self.method == "cos":
            spikes = self._forward_cos(x_seq)
        else:
            spikes = self._forward_srp(x_seq)
        return self.fold(spikes * theta)

    def _forward_cos(self, x_seq: Tensor) -> Tensor:
        rho = self.presim_steps
        if x_seq.shape[0] < rho:
            raise ValueError(
                f"COS needs at least rho={rho} input steps to pre-simulate, got {x_seq.shape[0]}"
            )
        v0 = cos_initial_potential(x_seq[:rho], rounds=self.cos_rounds)
        if self.offset_statistics is not None:
            self._record_offsets(x_seq[: self.offset_statistics.window], v0)
        self.neuron.set_initial_potential(v0)
        try:
            return self.neuron(x_seq)
        finally:
            self.neuron.set_initial_potential(0.5)

    def _record_offsets(self, window: Tensor, v0: Tensor) -> None:
        desired = desired_spike_count(window)
        before = simulate_if(window, 0.5)[0].sum(0) - desired
        after = simulate_if(window, v0)[0].sum(0) - desired
        assert self.offset_statistics is not None
        self.offset_statistics.add(before, after, desired)

    def _forward_srp(self, x_seq: Tensor) -> Tensor:
        tau = self.presim_steps
        if x_seq.shape[0] <= tau:
            raise ValueError(f"SRP needs more than tau={tau} input steps, got {x_seq.shape[0]}")
        pre_spikes, mask = srp_mask(x_seq[:tau])
        if self.mask_statistics is not None:
            self.mask_statistics.add(pre_spikes.sum(0), desired_spike_count(x_seq[:tau]), mask)
        post_spikes = self.neuron(x_seq[tau:]) * mask
        return torch.cat([pre_spikes, post_spikes])

    def extra_repr(self) -> str:
        return (
            f"threshold={float(self.threshold):.4g}, method={self.method!r}, "
            f"presim_steps={self.presim_steps}"
        )


class NeuronActivation(TimeFoldedLayer):
    """Run any snn-core neuron on a time-folded input: unfold, ``neuron(x [S, B, ...])``, fold.

    Args:
        neuron: The neuron. It receives the whole sequence, so neurons with temporal mixing work.
    """

    def __init__(self, neuron: BaseNeuron) -> None:
        super().__init__()
        self.neuron = neuron

    def forward(self, x: Tensor) -> Tensor:
        """Map the time-folded input current ``[S * B, ...]`` to the neuron's outputs."""
        return self.fold(self.neuron(self.unfold(x)))
