"""Encoders that turn a static input ``[B, ...]`` into a spike or current sequence ``[T, B, ...]``.

Every encoder returns its output in the input's dtype. The stochastic and thresholded encoders (rate,
spike camera) can pass a straight-through gradient to their input, so attacks can differentiate
through them.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor, nn

from snn_core._checks import flag, positive_integer, real
from snn_core.registry import ENCODERS

__all__ = [
    "DirectEncoder",
    "Encoder",
    "LatencyEncoder",
    "RateEncoder",
    "SpikeCameraEncoder",
]


def _check_floating(x: Tensor, encoder: str) -> None:
    if not x.dtype.is_floating_point:
        raise TypeError(
            f"{encoder} expects a floating-point input, got dtype {x.dtype}; convert it first"
        )


class Encoder(nn.Module):
    """Base class of encoders: ``forward(x [B, ...]) -> [T, B, ...]``.

    Args:
        time_steps: Number of time steps ``T`` in the output.
    """

    def __init__(self, time_steps: int) -> None:
        super().__init__()
        self.time_steps = positive_integer("time_steps", time_steps)

    def config(self) -> dict[str, Any]:
        """Return the constructor arguments as a JSON-able dict."""
        return {"time_steps": self.time_steps}

    def extra_repr(self) -> str:
        return ", ".join(f"{key}={value!r}" for key, value in self.config().items())


class _SeededEncoder(Encoder):
    """An encoder that draws random numbers from its own ``torch.Generator`` when seeded."""

    def __init__(self, time_steps: int, seed: int | None) -> None:
        super().__init__(time_steps)
        self.seed = seed
        self._generators: dict[torch.device, torch.Generator] = {}

    def generator(self, device: torch.device) -> torch.Generator | None:
        """Return this encoder's generator on ``device``, or None (global RNG) when unseeded."""
        if self.seed is None:
            return None
        if device not in self._generators:
            generator = torch.Generator(device=device)
            generator.manual_seed(self.seed)
            self._generators[device] = generator
        return self._generators[device]

    def reseed(self, seed: int | None = None) -> None:
        """Restart the random stream from ``seed`` (default: the constructor's seed)."""
        if seed is not None:
            self.seed = seed
        self._generators.clear()


@ENCODERS.register("direct")
class DirectEncoder(Encoder):
    """Direct coding: repeat the analog input at every time step, so the first layer receives currents."""

    def forward(self, x: Tensor) -> Tensor:
        """Return ``x [B, ...]`` repeated to ``[T, B, ...]`` (a broadcast view; gradients sum over T)."""
        _check_floating(x, "DirectEncoder")
        return x.unsqueeze(0).expand(self.time_steps, *x.shape)


class _StraightThroughSpikes(torch.autograd.Function):
    """Forward: the given spikes. Backward: ``scale`` times the gradient summed over time."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, spikes: Tensor, scale: float) -> Tensor:
        ctx.scale = scale
        return spikes

    @staticmethod
    def backward(ctx: Any, grad_spikes: Tensor) -> tuple[Tensor, None, None]:
        return grad_spikes.sum(0) * ctx.scale, None, None


@ENCODERS.register("rate")
class RateEncoder(_SeededEncoder):
    """Rate (Bernoulli) coding: each step fires with probability ``clamp(x, 0, 1)``.

    Args:
        time_steps: Number of steps ``T``.
        seed: Seed of the encoder's own ``torch.Generator``; None uses the global RNG.
        straight_through: Pass ``dL/dx = sum_t dL/ds[t]`` backward, the gradient of the expected
            spike count (each step's expectation is ``x``). False blocks the gradient.
    """

    def __init__(
        self, time_steps: int, seed: int | None = None, straight_through: bool = True
    ) -> None:
        super().__init__(time_steps, seed)
        self.straight_through = straight_through

    def forward(self, x: Tensor) -> Tensor:
        """Return Bernoulli spikes ``[T, B, ...]`` in ``x``'s dtype for intensities ``x [B, ...]``."""
        _check_floating(x, "RateEncoder")
        probability = x.detach().clamp(0.0, 1.0).to(torch.float32)
        draws = torch.rand(
            (self.time_steps, *x.shape), generator=self.generator(x.device), device=x.device
        )
        spikes = (draws < probability).to(x.dtype)
        if self.straight_through and x.requires_grad:
            return _StraightThroughSpikes.apply(x, spikes, 1.0)
        return spikes

    def config(self) -> dict[str, Any]:
        return {**super().config(), "seed": self.seed, "straight_through": self.straight_through}


@ENCODERS.register("latency")
class LatencyEncoder(Encoder):
    """Latency (time-to-first-spike) coding: one spike per input, brighter inputs fire earlier.

    An input ``x`` in [0, 1] fires once at step ``round((1 - x) * (T - 1))``; inputs below
    ``threshold`` never fire. The output has no gradient with respect to ``x``.

    Args:
        time_steps: Number of steps ``T``.
        threshold: Inputs below this value stay silent.
    """

    def __init__(self, time_steps: int, threshold: float = 0.01) -> None:
        super().__init__(time_steps)
        self.threshold = real("threshold", threshold)

    def forward(self, x: Tensor) -> Tensor:
        """Return one-hot-in-time spikes ``[T, B, ...]`` for intensities ``x [B, ...]``."""
        _check_floating(x, "LatencyEncoder")
        clamped = x.detach().clamp(0.0, 1.0)
        spike_time = torch.round((1.0 - clamped) * (self.time_steps - 1)).long()
        steps = torch.arange(self.time_steps, device=x.device).view(-1, *([1] * x.dim()))
        spikes = (steps == spike_time.unsqueeze(0)) & (clamped >= self.threshold).unsqueeze(0)
        return spikes.to(x.dtype)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "threshold": self.threshold}


@ENCODERS.register("spike-camera")
class SpikeCameraEncoder(_SeededEncoder):
    """The spike camera's integrate-and-fire pixel model.

    Every pixel accumulates ``gain * x`` per step, fires when the accumulator reaches ``threshold``
    and then subtracts the threshold, so its firing rate is ``gain * x / threshold`` spikes per step
    (capped at 1). This is the physical model of the spike camera's pixel circuit. For intensities that
    change over time call :meth:`encode_sequence` with ``[T, B, ...]``.

    Args:
        time_steps: Number of steps ``T``.
        threshold: Accumulator threshold, in units of ``gain * x``.
        gain: Charge per step for unit intensity.
        random_phase: Start each pixel's accumulator uniformly in ``[0, threshold)``, as a camera that
            has been running does; False starts from 0.
        noise_rate: Probability per pixel and step of an extra spike ORed into the stream.
        seed: Seed of the encoder's own ``torch.Generator``; None uses the global RNG.
        straight_through: Pass ``dL/dx = (gain / threshold) * sum_t dL/ds[t]`` backward, the gradient
            of the expected spike count.

    Raises:
        ValueError: If ``threshold`` or ``gain`` is not positive or ``noise_rate`` is outside [0, 1].
    """

    def __init__(
        self,
        time_steps: int,
        threshold: float = 2.0,
        gain: float = 1.0,
        random_phase: bool = False,
        noise_rate: float = 0.0,
        seed: int | None = None,
        straight_through: bool = True,
    ) -> None:
        super().__init__(time_steps, seed)
        self.threshold = real("threshold", threshold, positive=True)
        self.gain = real("gain", gain, positive=True)
        self.random_phase = flag("random_phase", random_phase)
        self.noise_rate = real(
            "noise_rate (a probability per step)", noise_rate, minimum=0, maximum=1
        )
        self.straight_through = flag("straight_through", straight_through)

    def forward(self, x: Tensor) -> Tensor:
        """Return spikes ``[T, B, ...]`` for a static intensity ``x [B, ...]`` (nominally in [0, 1])."""
        _check_floating(x, "SpikeCameraEncoder")
        return self.encode_sequence(x.unsqueeze(0).expand(self.time_steps, *x.shape))

    def encode_sequence(self, x_seq: Tensor) -> Tensor:
        """Return spikes ``[T, B, ...]`` for intensities that change over time, ``x_seq [T, B, ...]``.

        The encoder's ``time_steps`` is ignored here: the output has ``x_seq``'s length.
        """
        _check_floating(x_seq, "SpikeCameraEncoder")
        generator = self.generator(x_seq.device)
        intensity = x_seq.detach().to(torch.float32)
        if self.random_phase:
            accumulator = (
                torch.rand(intensity.shape[1:], generator=generator, device=x_seq.device)
                * self.threshold
            )
        else:
            accumulator = torch.zeros(intensity.shape[1:], device=x_seq.device)

        spikes = torch.empty_like(intensity)
        for t in range(intensity.shape[0]):
            accumulator = accumulator + self.gain * intensity[t]
            fired = accumulator >= self.threshold
            accumulator = accumulator - self.threshold * fired.to(accumulator.dtype)
            spikes[t] = fired.to(spikes.dtype)

        if self.noise_rate > 0.0:
            noise = torch.rand(spikes.shape, generator=generator, device=x_seq.device)
            spikes = torch.maximum(spikes, (noise < self.noise_rate).to(spikes.dtype))
        spikes = spikes.to(x_seq.dtype)

        if self.straight_through and x_seq.requires_grad:
            return _StraightThroughSequence.apply(x_seq, spikes, self.gain / self.threshold)
        return spikes

    def config(self) -> dict[str, Any]:
        return {
            **super().config(),
            "threshold": self.threshold,
            "gain": self.gain,
            "random_phase": self.random_phase,
            "noise_rate": self.noise_rate,
            "seed": self.seed,
            "straight_through": self.straight_through,
        }


class _StraightThroughSequence(torch.autograd.Function):
    """Forward: the given spikes. Backward: ``scale`` times the gradient at each step."""

    @staticmethod
    def forward(ctx: Any, x_seq: Tensor, spikes: Tensor, scale: float) -> Tensor:
        ctx.scale = scale
        return spikes

    @staticmethod
    def backward(ctx: Any, grad_spikes: Tensor) -> tuple[Tensor, None, None]:
        return grad_spikes * ctx.scale, None, None


EncoderName = Literal["direct", "rate", "latency", "spike-camera"]
