"""Fused multi-step kernels for the IF/LIF family, with a hand-written backward pass.

The reference loop in :class:`snn_core.neuron.BaseNeuron` lets autograd record every charge, fire and
reset operation, so it keeps about ten tensors per time step for backward. The kernels here compute
the same dynamics in one autograd node that saves only the pre-reset potentials ``h[t]``. Backward
recomputes the spikes, the surrogate derivatives and the previous potentials from them.

Dynamics, for every time step ``t`` (``k = 1 / tau``; IF is the case without leak)::

    charge  h[t] = v[t-1] + x[t]                                   (IF)
            h[t] = v[t-1] + k (x[t] - (v[t-1] - v_reset))          (LIF, decay_input=True)
            h[t] = v[t-1] - k (v[t-1] - v_reset) + x[t]            (LIF, decay_input=False)
    fire    s[t] = H(h[t] - theta)                                 (spike when h >= theta)
    reset   v[t] = h[t] (1 - s[t]) + v_reset s[t]                  (hard)
            v[t] = h[t] - theta s[t]                               (soft)
            v[t] = h[t]                                            (none)

Backward walks the steps in reverse with ``gv = dL/dv[t]`` (zero after the last step)::

    gs    = dL/ds[t] + gv * dv/ds        (dv/ds = v_reset - h, -theta or 0; dropped when detach_reset)
    gh    = gs * sg'(h[t] - theta) + gv * dv/dh|s     (dv/dh|s = 1 - s for hard reset, else 1)
    dL/dx[t] = gh * dh/dx,   gv <- gh * dh/dv         (dh/dx = k or 1, dh/dv = 1 - k or 1)

The two functions below run through ``torch.compile`` ("compiled" backend). The "fused" backend runs
their eager twins in :mod:`snn_core.neuron.fused_eager`, written for fewer passes over memory.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import shutil
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor

from snn_core.surrogate import Surrogate

logger = logging.getLogger(__name__)

ResetMode = Literal["hard", "soft", "none"]


@dataclass(frozen=True)
class FusedSpec:
    """The static settings of one IF/LIF configuration; each distinct spec compiles once.

    Attributes:
        has_leak: False for IF, True for LIF.
        decay_input: LIF only: whether the input is scaled by ``1 / tau`` too.
        reset_mode: ``"hard"``, ``"soft"`` or ``"none"``.
        v_reset: Reset value and resting potential, in membrane units.
        detach_reset: Whether the reset step is excluded from the gradient.
        surrogate: The surrogate whose derivative backward uses.
    """

    has_leak: bool
    decay_input: bool
    reset_mode: ResetMode
    v_reset: float
    detach_reset: bool
    surrogate: Surrogate


def _charge(spec: FusedSpec, x: Tensor, v: Tensor, decay: Tensor) -> Tensor:
    if not spec.has_leak:
        return v + x
    if spec.decay_input:
        return v + (x - (v - spec.v_reset)) * decay
    return v - (v - spec.v_reset) * decay + x


def _reset(spec: FusedSpec, h: Tensor, spike: Tensor, threshold: Tensor) -> Tensor:
    if spec.reset_mode == "hard":
        return torch.where(spike > 0, spec.v_reset, h)
    if spec.reset_mode == "soft":
        return h - threshold * spike
    return h


def charge_decay_derivative(
    spec: FusedSpec,
    t: int,
    h_seq: Tensor,
    x_seq: Tensor | None,
    v0: Tensor,
    threshold: Tensor,
) -> Tensor:
    """Return ``dh[t]/dk`` of a LIF charge, recomputing ``v[t-1]`` from the saved ``h[t-1]``.

    ``x_seq`` is needed when ``decay_input`` is set, because the input is scaled by ``k`` too.
    """
    if t == 0:
        v_prev = v0.expand_as(h_seq[0])
    else:
        h_prev = h_seq[t - 1]
        v_prev = _reset(spec, h_prev, (h_prev >= threshold).to(h_prev.dtype), threshold)
    derivative = spec.v_reset - v_prev
    if spec.decay_input:
        assert x_seq is not None
        derivative = derivative + x_seq[t]
    return derivative


def forward_kernel(
    spec: FusedSpec,
    x_seq: Tensor,
    v0: Tensor,
    threshold: Tensor,
    decay: Tensor,
    keep_potentials: bool = True,
) -> tuple[Tensor, Tensor | None]:
    """Run the dynamics over ``x_seq [T, B, ...]`` from ``v0``.

    Returns:
        Spikes ``[T, B, ...]``, and the pre-reset potentials ``h [T, B, ...]`` that backward needs,
        or None when ``keep_potentials`` is False (inference).
    """
    # Lists and one stack at the end: inductor fuses this into a single pass over the elements,
    # while writes into preallocated outputs made its kernel about six times slower (torch 2.13).
    spikes, potentials = [], []
    v = v0.expand_as(x_seq[0])
    for t in range(x_seq.shape[0]):
        h = _charge(spec, x_seq[t], v, decay)
        spike = (h >= threshold).to(h.dtype)
        v = _reset(spec, h, spike, threshold)
        spikes.append(spike)
        if keep_potentials:
            potentials.append(h)
    return torch.stack(spikes), torch.stack(potentials) if keep_potentials else None


def backward_kernel(
    spec: FusedSpec,
    grad_spikes: Tensor,
    h_seq: Tensor,
    x_seq: Tensor | None,
    v0: Tensor,
    threshold: Tensor,
    decay: Tensor,
    need_threshold_grad: bool,
    need_decay_grad: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Return the gradients for ``x_seq``, ``v0`` (full step shape), ``threshold`` and ``decay``.

    ``x_seq`` is needed only for the decay gradient of a LIF neuron with ``decay_input=True``.
    """
    grad_x_reversed = []
    grad_v = torch.zeros_like(h_seq[0])
    grad_threshold = torch.zeros((), dtype=h_seq.dtype, device=h_seq.device)
    grad_decay = torch.zeros((), dtype=h_seq.dtype, device=h_seq.device)
    resets_through_spike = spec.reset_mode != "none" and not spec.detach_reset

    for t in range(h_seq.shape[0] - 1, -1, -1):
        h = h_seq[t]
        u = h - threshold
        spike = (u >= 0).to(h.dtype)
        slope = spec.surrogate.derivative(u)

        grad_s = grad_spikes[t]
        if resets_through_spike:
            if spec.reset_mode == "hard":
                grad_s = grad_s + grad_v * (spec.v_reset - h)
            else:
                grad_s = grad_s - grad_v * threshold
        through_fire = grad_s * slope
        if spec.reset_mode == "hard":
            grad_h = through_fire + grad_v * (1.0 - spike)
        else:
            grad_h = through_fire + grad_v

        if need_threshold_grad:
            grad_threshold = grad_threshold - through_fire.sum()
            if spec.reset_mode == "soft":
                grad_threshold = grad_threshold - (grad_v * spike).sum()

        if spec.has_leak:
            if need_decay_grad:
                dh_ddecay = charge_decay_derivative(spec, t, h_seq, x_seq, v0, threshold)
                grad_decay = grad_decay + (grad_h * dh_ddecay).sum()
            grad_x_reversed.append(grad_h * decay if spec.decay_input else grad_h)
            grad_v = grad_h * (1.0 - decay)
        else:
            grad_x_reversed.append(grad_h)
            grad_v = grad_h
    return torch.stack(grad_x_reversed[::-1]), grad_v, grad_threshold, grad_decay


def compiler_available(device: torch.device) -> bool:
    """Return whether ``torch.compile`` can build kernels for ``device`` on this machine.

    CPU kernels need a C++ compiler; CUDA kernels need Triton.
    """
    if device.type == "cpu":
        return any(shutil.which(name) for name in ("g++", "c++", "clang++"))
    if device.type == "cuda":
        try:
            import triton  # noqa: F401
        except ImportError:
            return False
        return True
    return False


def _with_own_code(function: Callable[..., Any]) -> Callable[..., Any]:
    """Return a copy of ``function`` whose code object is its own.

    Dynamo keeps its compiled graphs, and counts recompilations against
    ``torch._dynamo.config.recompile_limit`` (8 by default), per code object. Every neuron
    configuration compiles a copy, so the limit applies to each configuration alone (it then caps
    the number of sequence lengths T per configuration) instead of to all of them together.
    :func:`_compile_limits` raises the limit to fit :data:`MAX_COMPILED_VARIANTS`.
    """
    copy = types.FunctionType(
        function.__code__.replace(),
        function.__globals__,
        function.__name__,
        function.__defaults__,
        function.__closure__,
    )
    copy.__kwdefaults__ = function.__kwdefaults__
    copy.__qualname__ = function.__qualname__
    return copy


@functools.cache
def _compiled_kernels(spec: FusedSpec) -> tuple[Callable[..., Any], Callable[..., Any]]:
    # dynamic=True: one kernel serves every batch and feature size; each T compiles once.
    # The spec is bound outside the compiled function: a compiled partial would run inside one
    # wrapper frame that every configuration shares, and so share one recompile limit again.
    forward = torch.compile(_with_own_code(forward_kernel), dynamic=True)
    backward = torch.compile(_with_own_code(backward_kernel), dynamic=True)
    return functools.partial(forward, spec), functools.partial(backward, spec)


# Specs whose compilation failed once; they run eagerly from then on.
_compile_failures: set[FusedSpec] = set()

# Input variants (sequence length T, dtype, rank, sizes 0 and 1, ...) compiled per configuration.
# Each variant costs seconds of compilation; past this many the configuration's new variants run
# the eager fused kernels, with one warning.
MAX_COMPILED_VARIANTS = 16
_compiled_variants: dict[FusedSpec, set[tuple[Any, ...]]] = {}
_variant_warnings: set[FusedSpec] = set()


def _variant(x_seq: Tensor, v0: Tensor, keep_potentials: bool) -> tuple[Any, ...]:
    """Return what makes dynamo compile a new graph: dynamic sizes specialise on 0 and 1 only."""
    return (
        x_seq.shape[0],
        x_seq.dtype,
        x_seq.device.type,
        tuple(min(size, 2) for size in x_seq.shape[1:]),
        tuple(min(size, 2) for size in v0.shape),
        keep_potentials,
    )


def _use_compiled(spec: FusedSpec, variant: tuple[Any, ...]) -> bool:
    if spec in _compile_failures:
        return False
    seen = _compiled_variants.setdefault(spec, set())
    if variant in seen:
        return True
    if len(seen) >= MAX_COMPILED_VARIANTS:
        if spec not in _variant_warnings:
            _variant_warnings.add(spec)
            logger.warning(
                "%s has been compiled for %d input variants (sequence length, dtype, rank); new "
                "variants run the eager fused kernels. Raise snn_core.neuron.fused."
                "MAX_COMPILED_VARIANTS to compile more",
                spec,
                MAX_COMPILED_VARIANTS,
            )
        return False
    seen.add(variant)
    return True


def _compile_limits() -> contextlib.AbstractContextManager[Any]:
    """Let dynamo recompile each kernel for every variant that :func:`_use_compiled` admits."""
    import torch._dynamo

    # The backward compiles up to four graphs per forward variant (threshold and decay gradients).
    limit = 4 * MAX_COMPILED_VARIANTS
    if torch._dynamo.config.recompile_limit >= limit:
        return contextlib.nullcontext()
    return torch._dynamo.config.patch(recompile_limit=limit)


def _kernels(spec: FusedSpec, compiled: bool) -> tuple[Callable[..., Any], Callable[..., Any]]:
    if compiled:
        return _compiled_kernels(spec)
    from snn_core.neuron.fused_eager import eager_backward, eager_forward

    return functools.partial(eager_forward, spec), functools.partial(eager_backward, spec)


class _FusedMultiStep(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        x_seq: Tensor,
        v0: Tensor,
        threshold: Tensor,
        decay: Tensor,
        spec: FusedSpec,
        compiled: bool,
    ) -> Tensor:
        keep_potentials = any(ctx.needs_input_grad[:4])
        compiled = compiled and _use_compiled(spec, _variant(x_seq, v0, keep_potentials))
        forward_fn, _ = _kernels(spec, compiled)
        try:
            with _compile_limits() if compiled else contextlib.nullcontext():
                spikes, h_seq = forward_fn(x_seq, v0, threshold, decay, keep_potentials)
        except Exception as error:  # torch.compile raises many types; fall back once, loudly
            if not compiled:
                raise
            logger.warning(
                "torch.compile failed for %s (%s); using the eager fused kernel", spec, error
            )
            _compile_failures.add(spec)
            compiled = False  # the backward of this call runs eagerly too
            forward_fn, _ = _kernels(spec, compiled)
            spikes, h_seq = forward_fn(x_seq, v0, threshold, decay, keep_potentials)

        need_decay_grad = bool(ctx.needs_input_grad[3]) and spec.has_leak
        keep_x = need_decay_grad and spec.decay_input
        ctx.save_for_backward(h_seq, x_seq if keep_x else None, v0, threshold, decay)
        ctx.spec = spec
        ctx.compiled = compiled
        ctx.need_decay_grad = need_decay_grad
        return spikes

    @staticmethod
    def backward(ctx: Any, grad_spikes: Tensor) -> tuple[Tensor | None, ...]:
        h_seq, x_seq, v0, threshold, decay = ctx.saved_tensors
        _, backward_fn = _kernels(ctx.spec, ctx.compiled)
        with _compile_limits() if ctx.compiled else contextlib.nullcontext():
            grad_x, grad_v, grad_threshold, grad_decay = backward_fn(
                grad_spikes.contiguous(),
                h_seq,
                x_seq,
                v0,
                threshold,
                decay,
                bool(ctx.needs_input_grad[2]),
                ctx.need_decay_grad,
            )
        grad_v0 = grad_v.sum_to_size(v0.shape) if ctx.needs_input_grad[1] else None
        return (
            grad_x if ctx.needs_input_grad[0] else None,
            grad_v0,
            grad_threshold if ctx.needs_input_grad[2] else None,
            grad_decay if ctx.needs_input_grad[3] else None,
            None,
            None,
        )


def fused_multistep(
    spec: FusedSpec,
    x_seq: Tensor,
    v0: Tensor,
    threshold: Tensor,
    decay: Tensor,
    compiled: bool = False,
) -> Tensor:
    """Run an IF/LIF neuron over a whole sequence in one autograd node.

    Args:
        spec: Static settings of the neuron.
        x_seq: Input current ``[T, B, ...]`` in the compute dtype.
        v0: Initial membrane potential, broadcastable to ``[B, ...]``; gets a gradient if it requires one.
        threshold: 0-d firing threshold tensor.
        decay: 0-d ``1 / tau`` tensor (ignored without leak).
        compiled: Use ``torch.compile``d kernels (falls back to eager, with a warning, if compiling fails).

    Returns:
        Spikes ``[T, B, ...]`` in ``x_seq``'s dtype.
    """
    return _FusedMultiStep.apply(x_seq.contiguous(), v0, threshold, decay, spec, compiled)
