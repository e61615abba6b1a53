"""The learnable multi-hierarchical threshold (LM-HT) neuron and its single-threshold IF form.

From "LM-HT SNN: Enhancing the Performance of SNN to ANN Counterpart through Learnable
Multi-hierarchical Threshold Model" (Hao et al., NeurIPS 2024).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from snn_core.neuron import BaseNeuron
from snn_core.registry import NEURONS

__all__ = ["LMHTNeuron", "ReparameterizedLMHTNeuron", "multilevel_fire"]


class _MultiLevelFire(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, h: Tensor, threshold: float, level: int) -> Tensor:
        ctx.save_for_backward(h)
        ctx.threshold, ctx.level = threshold, level
        return torch.clamp(torch.floor(h / threshold), 0, level) * threshold

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor, None, None]:
        (h,) = ctx.saved_tensors
        low, high = 0.5 * ctx.threshold, (ctx.level + 0.5) * ctx.threshold
        window = ((h >= low) & (h <= high)).to(grad_output.dtype)
        return grad_output * window, None, None


def multilevel_fire(h: Tensor, threshold: float, level: int) -> Tensor:
    """Emit ``k * threshold`` with ``k = clip(floor(h / threshold), 0, level)`` thresholds crossed.

    The backward pass uses the rectangular surrogate ``do/dh = 1`` on
    ``[0.5 threshold, (level + 0.5) threshold]`` and 0 elsewhere.
    """
    return _MultiLevelFire.apply(h, threshold, level)


def _check_level_steps(level: int, time_steps: int) -> None:
    if int(level) != level or level < 1:
        raise ValueError(f"LM-HT level must be an integer >= 1, got {level!r}")
    if int(time_steps) != time_steps or time_steps < 1:
        raise ValueError(f"LM-HT time_steps must be an integer >= 1, got {time_steps!r}")


def _mix(weights: Tensor, x_seq: Tensor) -> Tensor:
    # I[t] = sum_j w[t, j] x[j] over the time axis only; every other axis broadcasts.
    return torch.tensordot(weights.to(x_seq.dtype), x_seq, dims=([1], [0]))


@NEURONS.register("lmht")
class LMHTNeuron(BaseNeuron):
    """L-level neuron with a learnable leak and learnable temporal-global mixing (T-GIM).

    Per layer, for a sequence of ``T`` steps::

        I[t] = sum_j omega[t, j] * scale * x[j]          omega = 2 sigmoid(M) / T   (T x T, M init 0)
        m[t] = lambda * sg(v[t-1]) + I[t]                lambda = sigmoid(alpha) + 0.5 (alpha init 0)
        o[t] = clip(floor(m[t] / theta), 0, L) * theta   (a multi-level spike)
        v[t] = m[t] - sg(o[t])                           (soft reset by the emitted amount)

    ``sg`` is stop-gradient: gradients reach ``lambda`` through the product, ``M`` through the
    mixing and every ``x[j]``, but do not flow back through ``v[t-1]``. The surrogate of the fire
    step is 1 on ``[0.5 theta, (L + 0.5) theta]``. The mixing is done in :meth:`prepare_sequence`, so
    ``forward(x) == stack(step(prepare_sequence(x)[t]))`` holds. ``omega`` mixes the time axis only
    and broadcasts over every other axis of ``[T, B, ...]``.

    Args:
        level: Number of thresholds ``L`` (the neuron emits at most ``L * theta`` per step).
        time_steps: ``T``; the mixing matrix is ``T x T``, so every input must have ``T`` steps.
        v_threshold: ``theta``; defaults to ``2 / L`` (direct training). Hybrid training uses the
            QCFS threshold.
        v_init: Initial potential: 0 for direct training, ``theta / 2`` for hybrid training.
        input_scale: Factor on the input before mixing (hybrid training multiplies the first
            spiking layer's input by ``L``).
        leak_logit: Initial ``alpha``.
        mixing_logits: Initial ``M`` ``[T, T]``; zeros (uniform averaging) by default.
        **kwargs: Other :class:`~snn_core.neuron.BaseNeuron` arguments except ``reset_mode`` and
            ``detach_reset`` (the reset is always the detached soft reset).

    Raises:
        ValueError: For ``level`` or ``time_steps`` < 1, a non-positive threshold, or mixing logits
            that are not ``[T, T]``.
    """

    spike_kind: ClassVar[str] = "multilevel"  # type: ignore[misc]

    def __init__(
        self,
        *,
        level: int = 2,
        time_steps: int = 2,
        v_threshold: float | None = None,
        v_init: float | Tensor | list[Any] = 0.0,
        input_scale: float = 1.0,
        leak_logit: float = 0.0,
        mixing_logits: Tensor | list[Any] | None = None,
        **kwargs: Any,
    ) -> None:
        _check_level_steps(level, time_steps)
        threshold = 2.0 / level if v_threshold is None else float(v_threshold)
        if not threshold > 0:
            raise ValueError(f"LM-HT threshold must be > 0, got {threshold!r}")
        kwargs.pop("reset_mode", None)
        kwargs.pop("detach_reset", None)
        kwargs.setdefault("surrogate", "rectangle")
        kwargs.setdefault("backend", "reference")
        super().__init__(
            v_threshold=threshold, reset_mode="soft", v_init=v_init, detach_reset=True, **kwargs
        )
        self.level = int(level)
        self.time_steps = int(time_steps)
        self.input_scale = float(input_scale)
        self.leak_logit = nn.Parameter(torch.tensor(float(leak_logit)))
        logits = (
            torch.zeros(time_steps, time_steps)
            if mixing_logits is None
            else torch.as_tensor(mixing_logits, dtype=torch.float32)
        )
        if logits.shape != (time_steps, time_steps):
            raise ValueError(
                f"mixing_logits must have shape ({time_steps}, {time_steps}), got {tuple(logits.shape)}"
            )
        self.mixing_logits = nn.Parameter(logits.clone())

    @property
    def leak(self) -> Tensor:
        """The leak ``lambda = sigmoid(alpha) + 0.5``, in (0.5, 1.5)."""
        return torch.sigmoid(self.leak_logit) + 0.5

    @property
    def sequence_length(self) -> int:
        """The number of steps every input must have: ``T``."""
        return self.time_steps

    @property
    def mixing_weights(self) -> Tensor:
        """The mixing matrix ``omega = 2 sigmoid(M) / T`` ``[T, T]``; row ``t`` weights the inputs."""
        return 2.0 * torch.sigmoid(self.mixing_logits) / self.time_steps

    def prepare_sequence(self, x_seq: Tensor) -> Tensor:
        """Mix the input over time: ``I[t] = sum_j omega[t, j] scale x[j]`` for ``x_seq [T, B, ...]``.

        Raises:
            ValueError: If the sequence does not have ``T`` steps.
        """
        if x_seq.shape[0] != self.time_steps:
            raise ValueError(
                f"LMHTNeuron was built for T={self.time_steps} steps, got a sequence of shape "
                f"{tuple(x_seq.shape)}; build it with time_steps={x_seq.shape[0]}"
            )
        if self.input_scale != 1.0:
            x_seq = x_seq * self.input_scale
        return _mix(self.mixing_weights, x_seq)

    def charge(self, x_t: Tensor, v: Tensor) -> Tensor:
        """Return ``m = lambda * sg(v) + I``."""
        return self.leak.to(v.dtype) * v.detach() + x_t

    def fire(self, h: Tensor) -> Tensor:
        """Return the multi-level output ``clip(floor(h / theta), 0, L) * theta``."""
        return multilevel_fire(h, float(self.v_threshold), self.level)

    def reset(self, h: Tensor, spike: Tensor) -> Tensor:
        """Return ``m - sg(o)``: the output ``o`` already carries the threshold unit."""
        return h - spike.detach()

    def config(self) -> dict[str, Any]:
        """Return the constructor arguments, with the learned leak and mixing at their values."""
        config = super().config()
        for key in ("reset_mode", "detach_reset", "v_reset"):
            config.pop(key)
        config.update(
            level=self.level,
            time_steps=self.time_steps,
            input_scale=self.input_scale,
            leak_logit=float(self.leak_logit.detach()),
            mixing_logits=self.mixing_logits.detach().cpu().tolist(),
        )
        return config

    def extra_repr(self) -> str:
        return f"level={self.level}, time_steps={self.time_steps}, " + super().extra_repr()


@NEURONS.register("lmht-reparameterized")
class ReparameterizedLMHTNeuron(BaseNeuron):
    """Single-threshold IF form of a trained LM-HT neuron, running ``T * L`` sub-steps.

    Step ``t`` of the LM-HT neuron becomes the block of sub-steps ``t L .. t L + L - 1``:

    * the leak ``lambda`` is applied at the first sub-step of each block and is 1 elsewhere;
    * the mixing weight between sub-steps ``s`` and ``s'`` is ``omega[s // L, s' // L] / L``;
    * the neuron fires ``theta`` when ``v >= theta`` and subtracts it (soft reset).

    With every bias of the network divided by ``L`` and the input scaled by ``1 / L``
    (:func:`~snn_convert.reparameterize_lmht`), each block receives the LM-HT input ``I[t]`` spread
    evenly over its ``L`` sub-steps. The block's spike count equals the LM-HT level ``k[t]``
    whenever ``lambda * v[t-1]`` and ``I[t]`` are both non-negative, and the potential after the
    block equals the LM-HT ``v[t]`` whenever the counts are equal. In exact arithmetic the counts
    can differ only in two cases:

    * ``lambda * v[t-1] >= theta`` and ``I[t] < 0``: the IF form fires at the first sub-steps and
      ends below 0, where the LM-HT neuron emits fewer levels (the IF form has more spikes);
    * ``lambda * v[t-1] < 0`` and ``I[t] > L * theta``: the IF form misses the first sub-step and
      ends at ``theta`` or above, where the LM-HT neuron emits more levels (the IF form has fewer).

    In float32 they also differ where the potential lies within rounding error of a multiple of
    ``theta``, because the IF form adds ``I[t] / L`` ``L`` times and the LM-HT neuron adds ``I[t]``
    once. Float64 makes such ties rare but cannot rule them out.

    The state passed between :meth:`step` calls is ``(v, sub-step index)``.

    Args:
        level: ``L`` of the LM-HT neuron.
        time_steps: ``T`` of the LM-HT neuron (the neuron runs ``T * L`` sub-steps).
        v_threshold: ``theta``.
        v_init: Initial potential.
        input_scale: The LM-HT input scale.
        leak: ``lambda`` of the LM-HT neuron.
        mixing_weights: ``omega`` ``[T, T]`` of the LM-HT neuron. A floating-point tensor keeps its
            dtype, so a float64 network keeps float64 mixing. Other values get the default dtype.
        **kwargs: Other :class:`~snn_core.neuron.BaseNeuron` arguments.

    Raises:
        ValueError: For ``level`` or ``time_steps`` < 1 or a mixing matrix that is not ``[T, T]``.
    """

    def __init__(
        self,
        *,
        level: int = 2,
        time_steps: int = 2,
        v_threshold: float = 1.0,
        v_init: float | Tensor | list[Any] = 0.0,
        input_scale: float = 1.0,
        leak: float = 1.0,
        mixing_weights: Tensor | list[Any] | None = None,
        **kwargs: Any,
    ) -> None:
        _check_level_steps(level, time_steps)
        kwargs.pop("reset_mode", None)
        kwargs.setdefault("surrogate", "rectangle")
        kwargs.setdefault("backend", "reference")
        super().__init__(v_threshold=v_threshold, reset_mode="soft", v_init=v_init, **kwargs)
        self.level = int(level)
        self.time_steps = int(time_steps)
        self.input_scale = float(input_scale)
        self.leak = float(leak)
        if mixing_weights is None:
            weights = torch.full((time_steps, time_steps), 1.0 / time_steps)
        else:
            weights = torch.as_tensor(mixing_weights)
            if not weights.is_floating_point():
                weights = weights.to(torch.get_default_dtype())
        if weights.shape != (time_steps, time_steps):
            raise ValueError(
                f"mixing_weights must have shape ({time_steps}, {time_steps}), got {tuple(weights.shape)}"
            )
        self.register_buffer("mixing_weights", weights.clone())

    @classmethod
    def from_lmht(cls, neuron: LMHTNeuron) -> ReparameterizedLMHTNeuron:
        """Build the IF form of a trained :class:`LMHTNeuron`."""
        return cls(
            level=neuron.level,
            time_steps=neuron.time_steps,
            v_threshold=float(neuron.v_threshold),
            v_init=neuron.v_init.clone(),
            input_scale=neuron.input_scale,
            leak=float(neuron.leak.detach()),
            mixing_weights=neuron.mixing_weights.detach().cpu(),
        )

    @property
    def sub_steps(self) -> int:
        """The number of sub-steps ``T * L`` a sequence must have."""
        return self.time_steps * self.level

    def expanded_mixing(self) -> Tensor:
        """Return the ``[T L, T L]`` mixing matrix with entries ``omega[s // L, s' // L] / L``."""
        block = torch.ones(self.level, self.level, device=self.mixing_weights.device)
        return torch.kron(self.mixing_weights, block) / self.level

    def prepare_sequence(self, x_seq: Tensor) -> Tensor:
        """Mix the ``[T L, B, ...]`` input with the expanded matrix.

        Raises:
            ValueError: If the sequence does not have ``T * L`` steps.
        """
        if x_seq.shape[0] != self.sub_steps:
            raise ValueError(
                f"ReparameterizedLMHTNeuron runs T*L={self.sub_steps} sub-steps, got a sequence of "
                f"shape {tuple(x_seq.shape)}"
            )
        if self.input_scale != 1.0:
            x_seq = x_seq * self.input_scale
        return _mix(self.expanded_mixing(), x_seq)

    def charge(self, x_t: Tensor, v: Tensor) -> Tensor:
        """Return ``v + x`` (the leak is applied in :meth:`step` at block starts)."""
        return v + x_t

    def step(
        self, x_t: Tensor, state: tuple[Tensor, int] | None = None
    ) -> tuple[Tensor, tuple[Tensor, int]]:
        """Advance one sub-step.

        Args:
            x_t: Mixed input current ``[B, ...]``.
            state: ``(potential [B, ...], sub-step index)``, or None to start from ``v_init``.

        Returns:
            Spikes ``[B, ...]`` (0 or ``theta``) and the new state.
        """
        if state is None:
            v, index = self.initial_state(x_t), 0
        else:
            v, index = state
        if index % self.level == 0:
            v = self.leak * v
        h = self.charge(x_t.to(v.dtype), v)
        spike = self.fire(h)
        v = self.reset(h, spike)
        return (spike * float(self.v_threshold)).to(x_t.dtype), (v, index + 1)

    def config(self) -> dict[str, Any]:
        """Return the constructor arguments as a JSON-able dict."""
        config = super().config()
        config.pop("reset_mode")
        config.update(
            level=self.level,
            time_steps=self.time_steps,
            input_scale=self.input_scale,
            leak=self.leak,
            mixing_weights=self.mixing_weights.cpu().tolist(),
        )
        return config
