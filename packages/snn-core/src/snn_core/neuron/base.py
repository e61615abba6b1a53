"""The neuron interface: charge, fire and reset steps over time-major sequences."""

from __future__ import annotations

import logging
import os
from typing import Any, ClassVar, Literal, get_args

import torch
from torch import Tensor, nn

from snn_core._checks import flag, real
from snn_core.surrogate import Surrogate, resolve_surrogate, surrogate_config

__all__ = [
    "Backend",
    "BaseNeuron",
    "ResetMode",
    "SpikeKind",
    "compute_dtype",
    "get_default_backend",
    "set_default_backend",
]

logger = logging.getLogger(__name__)

ResetMode = Literal["hard", "soft", "none"]
Backend = Literal["auto", "reference", "fused", "compiled"]
SpikeKind = Literal["binary", "multilevel", "float"]

_BACKENDS: tuple[str, ...] = get_args(Backend)
_RESET_MODES: tuple[str, ...] = get_args(ResetMode)

_default_backend: str = os.environ.get("SNN_CORE_BACKEND", "auto")
if _default_backend not in _BACKENDS:
    logger.warning(
        "environment variable SNN_CORE_BACKEND=%r is invalid (use one of %s); using 'auto'",
        _default_backend,
        ", ".join(_BACKENDS),
    )
    _default_backend = "auto"


def _compile_min_elements(default: int = 1 << 20) -> int:
    text = os.environ.get("SNN_CORE_COMPILE_MIN_ELEMENTS")
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        logger.warning(
            "environment variable SNN_CORE_COMPILE_MIN_ELEMENTS=%r is not an integer element "
            "count; using %d",
            text,
            default,
        )
        return default


# "auto" compiles only sequences at least this large: compiling costs seconds once per neuron
# configuration and input shape, which pays off on large training inputs, not on small ones.
COMPILE_MIN_ELEMENTS = _compile_min_elements()


def set_default_backend(backend: Backend) -> None:
    """Set the backend that neurons built with ``backend="auto"`` resolve to.

    ``"auto"`` (the default) picks ``"compiled"`` for inputs of at least ``COMPILE_MIN_ELEMENTS``
    elements (2**20 unless ``SNN_CORE_COMPILE_MIN_ELEMENTS`` sets another count) where ``torch.compile``
    can build kernels for the input's device, and ``"fused"`` elsewhere. The environment variable
    ``SNN_CORE_BACKEND`` sets the same value at import.

    Raises:
        ValueError: If ``backend`` is not one of "auto", "reference", "fused", "compiled".
    """
    global _default_backend
    if backend not in _BACKENDS:
        raise ValueError(f"invalid backend {backend!r}; use one of {', '.join(_BACKENDS)}")
    _default_backend = backend


def get_default_backend() -> str:
    """Return the process-wide default for ``backend="auto"``."""
    return _default_backend


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """Return the dtype the membrane potential is kept in for inputs of ``dtype``.

    Half and bfloat16 inputs (for example under ``torch.autocast``) are integrated in float32, because
    a 16-bit membrane loses small input currents once the potential grows. Float32 and float64 stay.
    """
    if dtype in (torch.float16, torch.bfloat16):
        return torch.float32
    if not dtype.is_floating_point:
        raise TypeError(f"neuron input must be a floating-point tensor, got dtype {dtype}")
    return dtype


def _initial_potential_tensor(v_init: float | Tensor | list[Any]) -> Tensor:
    if isinstance(v_init, Tensor):
        if not (v_init.dtype.is_floating_point or v_init.dtype in (torch.int32, torch.int64)):
            raise TypeError(f"v_init must be a real-valued tensor, got dtype {v_init.dtype}")
        return v_init.to(torch.float32).clone()
    if isinstance(v_init, (list, tuple)):
        try:
            return torch.tensor(v_init, dtype=torch.float32)
        except (TypeError, ValueError) as error:
            raise TypeError(
                f"v_init must be a number, a tensor or a nested list of numbers, got {v_init!r}"
            ) from error
    return torch.tensor(real("v_init", v_init), dtype=torch.float32)


class BaseNeuron(nn.Module):
    """A spiking neuron layer split into charge, fire and reset steps.

    ``forward`` maps input current ``[T, B, ...]`` to spikes ``[T, B, ...]`` and starts every call from
    the initial state, so no state leaks between batches. :meth:`step` is the single-step API with an
    explicit state for streaming and online training. A neuron fires when its potential reaches the
    threshold: ``s = H(h - v_threshold)`` with ``H(0) = 1``.

    Subclasses implement :meth:`charge`; :meth:`fire` and :meth:`reset` cover threshold neurons.

    Args:
        v_threshold: Firing threshold, in membrane units.
        v_reset: Value a hard reset sets, and the resting potential a leak decays towards.
        reset_mode: ``"hard"`` sets the potential to ``v_reset`` after a spike, ``"soft"`` subtracts
            the threshold, ``"none"`` keeps it.
        surrogate: Surrogate gradient: an instance, a registered name, or ``{"name": ..., **config}``.
        v_init: Initial membrane potential: a scalar, a per-neuron tensor ``[...]`` (a step's shape
            without the batch) or a per-sample tensor ``[B, ...]``.
        detach_reset: Exclude the reset from the gradient (the spike in the reset is detached).
        learnable_threshold: Make the threshold a trainable scalar parameter.
        backend: ``"reference"`` runs the readable step loop. ``"fused"`` runs a single autograd
            node that matches it, and ``"compiled"`` runs that node through ``torch.compile``.
            ``"auto"`` follows :func:`set_default_backend` (compiled for large inputs, else
            fused). Neurons without a fused kernel always use the loop. NOTE: the fused and
            compiled kernels agree with the loop for finite inputs; an infinite input current
            can give NaN potentials there where the loop fires (inputs are not checked, which
            would cost a pass over them).

    Raises:
        ValueError: For an unknown reset mode or backend, or a non-finite threshold or reset.
        TypeError: For a threshold, reset or initial potential that is not a number, or a flag
            that is not a bool.
    """

    spike_kind: ClassVar[SpikeKind] = "binary"

    @property
    def sequence_length(self) -> int | None:
        """The number of steps every input must have, or None when any length works.

        Neurons that mix time steps (a ``T x T`` matrix) override it.
        """
        return None

    def __init__(
        self,
        *,
        v_threshold: float = 1.0,
        v_reset: float = 0.0,
        reset_mode: ResetMode = "hard",
        surrogate: str | Surrogate | dict[str, Any] = "arctan",
        v_init: float | Tensor | list[Any] = 0.0,
        detach_reset: bool = False,
        learnable_threshold: bool = False,
        backend: Backend = "auto",
    ) -> None:
        super().__init__()
        if reset_mode not in _RESET_MODES:
            raise ValueError(
                f"invalid reset_mode {reset_mode!r}; use one of {', '.join(_RESET_MODES)}"
            )
        if backend not in _BACKENDS:
            raise ValueError(f"invalid backend {backend!r}; use one of {', '.join(_BACKENDS)}")
        threshold = real("v_threshold", v_threshold)

        self.reset_mode: ResetMode = reset_mode
        self.v_reset = real("v_reset", v_reset)
        self.detach_reset = flag("detach_reset", detach_reset)
        self.backend: Backend = backend
        self.surrogate = resolve_surrogate(surrogate)
        self.learnable_threshold = flag("learnable_threshold", learnable_threshold)
        if self.learnable_threshold:
            self.v_threshold: float | nn.Parameter = nn.Parameter(torch.tensor(threshold))
        else:
            self.v_threshold = threshold
        self.register_buffer("v_init", _initial_potential_tensor(v_init))

    # ----------------------------------------------------------------------------------------------
    # The three steps of the dynamics.

    def charge(self, x_t: Tensor, v: Tensor) -> Tensor:
        """Integrate input ``x_t [B, ...]`` into the potential ``v``; return the pre-spike potential."""
        raise NotImplementedError(f"{type(self).__name__} must implement charge(x_t, v)")

    def fire(self, h: Tensor) -> Tensor:
        """Return spikes ``H(h - v_threshold)`` with the surrogate gradient."""
        return self.surrogate(h - self.v_threshold)

    def reset(self, h: Tensor, spike: Tensor) -> Tensor:
        """Return the potential after the spikes ``spike`` were emitted from ``h``."""
        if self.reset_mode == "none":
            return h
        if self.detach_reset:
            spike = spike.detach()
        if self.reset_mode == "hard":
            return h * (1.0 - spike) + self.v_reset * spike
        return h - self.v_threshold * spike

    # ----------------------------------------------------------------------------------------------
    # State and the single-step API.

    def initial_state(self, x_t: Tensor) -> Tensor:
        """Return the initial membrane potential for a step input ``x_t [B, ...]``.

        The potential has ``x_t``'s shape and the dtype from :func:`compute_dtype`.

        Raises:
            ValueError: If ``v_init`` does not broadcast to ``x_t``'s shape.
        """
        return self.initial_potential_like(x_t).expand(x_t.shape).clone()

    def initial_potential_like(self, x_t: Tensor) -> Tensor:
        """Return ``v_init`` on ``x_t``'s device in the compute dtype, unexpanded.

        Raises:
            ValueError: If ``v_init`` does not broadcast to ``x_t``'s shape ``[B, ...]``.
        """
        v_init = self.v_init.to(device=x_t.device, dtype=compute_dtype(x_t.dtype))
        try:
            shape = torch.broadcast_shapes(v_init.shape, x_t.shape)
        except RuntimeError:
            shape = None
        if shape != x_t.shape:
            raise ValueError(
                f"v_init of shape {tuple(v_init.shape)} does not fit a step input of shape "
                f"{tuple(x_t.shape)}; use a scalar, a per-neuron tensor {tuple(x_t.shape[1:])} or a "
                f"per-sample tensor {tuple(x_t.shape)}"
            )
        return v_init

    def step(self, x_t: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Advance one time step.

        Args:
            x_t: Input current ``[B, ...]``.
            state: Membrane potential from the previous step, or None to start from ``v_init``.

        Returns:
            Spikes ``[B, ...]`` in ``x_t``'s dtype, and the new state: the membrane potential
            ``[B, ...]`` in the dtype from :func:`compute_dtype` (float32 for half-precision input).

        Raises:
            ValueError: If ``state`` does not have ``x_t``'s shape, or ``v_init`` does not fit it.
            TypeError: If ``x_t`` or ``state`` is not floating point.
        """
        if state is not None and not state.dtype.is_floating_point:
            raise TypeError(
                f"state must be a floating-point membrane potential, got dtype {state.dtype}; pass "
                "the state that the previous step returned, or None"
            )
        if state is not None and state.shape != x_t.shape:
            raise ValueError(
                f"state of shape {tuple(state.shape)} does not match the step input of shape "
                f"{tuple(x_t.shape)}; pass the state that the previous step returned, or None"
            )
        v = self.initial_state(x_t) if state is None else state
        h = self.charge(x_t.to(v.dtype), v)
        spike = self.fire(h)
        return spike.to(x_t.dtype), self.reset(h, spike)

    def prepare_sequence(self, x_seq: Tensor) -> Tensor:
        """Transform the whole input sequence before the step loop; the identity here.

        Neurons that mix time steps (each step's input depends on the whole sequence) override it.
        The contract every neuron keeps is ``forward(x) == stack([step(prepare_sequence(x)[t]) ...])``.
        """
        return x_seq

    def set_initial_potential(self, v_init: float | Tensor) -> None:
        """Replace the initial membrane potential (scalar, per-neuron or per-sample tensor)."""
        device = self.v_init.device
        self.v_init = torch.as_tensor(v_init, dtype=torch.float32, device=device).detach().clone()

    # ----------------------------------------------------------------------------------------------
    # Multi-step forward.

    def forward(self, x_seq: Tensor) -> Tensor:
        """Run the neuron over a sequence from its initial state.

        Args:
            x_seq: Input current ``[T, B, ...]``, floating point.

        Returns:
            Spikes ``[T, B, ...]`` in ``x_seq``'s dtype.

        Raises:
            ValueError: If ``x_seq`` has fewer than two dimensions or no time steps, or ``v_init``
                does not fit a step of it.
            TypeError: If ``x_seq`` is not floating point.
        """
        if x_seq.dim() < 2 or x_seq.shape[0] == 0:
            raise ValueError(
                f"{type(self).__name__} expects a time-major sequence [T, B, ...] with T >= 1, got "
                f"shape {tuple(x_seq.shape)}; for a single step call step(x_t)"
            )
        backend = self.resolved_backend(x_seq)
        if backend != "reference":
            spikes = self._forward_fused(x_seq, compiled=backend == "compiled")
            if spikes is not None:
                return spikes
        return self._forward_reference(x_seq)

    def _forward_reference(self, x_seq: Tensor) -> Tensor:
        x_seq = self.prepare_sequence(x_seq)
        state: Tensor | None = None
        spikes = []
        for t in range(x_seq.shape[0]):
            spike, state = self.step(x_seq[t], state)
            spikes.append(spike)
        return torch.stack(spikes)

    def has_fused_kernel(self) -> bool:
        """Return whether this neuron runs fused kernels; False runs the reference loop always.

        A subclass that overrides ``_forward_fused`` overrides this too.
        """
        return False

    def _forward_fused(self, x_seq: Tensor, compiled: bool) -> Tensor | None:
        """Run a fused kernel, or return None where the neuron has none (the loop then runs)."""
        return None

    def resolved_backend(self, x_seq: Tensor) -> str:
        """Return the backend a forward on ``x_seq`` uses: "reference", "fused" or "compiled"."""
        if not self.has_fused_kernel():
            return "reference"
        backend = self.backend if self.backend != "auto" else _default_backend
        if backend == "auto":
            from snn_core.neuron.fused import compiler_available

            large = x_seq.numel() >= COMPILE_MIN_ELEMENTS
            return "compiled" if large and compiler_available(x_seq.device) else "fused"
        return backend

    # ----------------------------------------------------------------------------------------------
    # Settings.

    @property
    def threshold_value(self) -> float:
        """The current threshold as a Python float."""
        if isinstance(self.v_threshold, Tensor):
            return float(self.v_threshold.detach())
        return float(self.v_threshold)

    def config(self) -> dict[str, Any]:
        """Return the constructor arguments as a JSON-able dict.

        Learnable values are reported at their current value, so the registry rebuilds an equal
        neuron from ``NEURONS.build(name, **neuron.config())``.
        """
        v_init: float | list[Any] = (
            float(self.v_init) if self.v_init.dim() == 0 else self.v_init.tolist()
        )
        return {
            "v_threshold": self.threshold_value,
            "v_reset": self.v_reset,
            "reset_mode": self.reset_mode,
            "surrogate": surrogate_config(self.surrogate),
            "v_init": v_init,
            "detach_reset": self.detach_reset,
            "learnable_threshold": self.learnable_threshold,
            "backend": self.backend,
        }

    def extra_repr(self) -> str:
        return (
            f"v_threshold={self.threshold_value:g}, reset_mode={self.reset_mode!r}, "
            f"v_reset={self.v_reset:g}, surrogate={self.surrogate!r}, backend={self.backend!r}"
        )
