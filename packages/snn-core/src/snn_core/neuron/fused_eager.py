"""Eager versions of the fused IF/LIF kernels, written for few passes over memory.

Without a compiler every elementwise operation is one pass over a ``[B, ...]`` step, so these
kernels use combined operations (``lerp``, ``addcmul``), write into preallocated outputs and update
temporaries in place. They keep spikes and masks in the compute dtype: on the CPU a comparison
written into a float tensor, and ``lerp`` or ``addcmul`` with a 0/1 factor, each take a fraction
of the time of their boolean counterparts (``masked_fill`` and a bool-to-float copy are 10 to 20
times slower per element in torch 2.13). ``lerp(a, b, w)`` with ``w`` in {0, 1} returns ``a`` or
``b`` exactly, so the hard reset stays exact.

On the CPU the neurons are processed in blocks of :data:`CPU_BLOCK_ELEMENTS` per time step: the
dynamics are elementwise, so each block runs through all time steps alone, and its temporaries stay
in the processor's cache instead of streaming a whole ``[B, ...]`` step through memory for every
operation. On the LIF benchmark this cut the backward pass by about a third.

They compute exactly the dynamics and gradients written in :mod:`snn_core.neuron.fused`, whose
functional kernels serve ``torch.compile``; the test suite holds both against the reference loop.
"""

from __future__ import annotations

import torch
from torch import Tensor

from snn_core.neuron.fused import FusedSpec, charge_decay_derivative

__all__ = ["CPU_BLOCK_ELEMENTS", "eager_backward", "eager_forward"]

# Elements per time step in one CPU block: 1 MiB of float32, so the few live temporaries of a block
# fit in a 2 MiB level-2 cache. Blocks of 2**19 measured as fast; at 2**16 the fixed cost of each
# operation makes the backward slower than with no blocks (docs/benchmarks.md).
CPU_BLOCK_ELEMENTS = 1 << 18


def _charge_into(spec: FusedSpec, out: Tensor, x: Tensor, v: Tensor, decay: Tensor) -> None:
    if not spec.has_leak:
        torch.add(v, x, out=out)
    elif spec.decay_input:
        # v + k (x - (v - v_reset)) = lerp(v, x + v_reset, k)
        target = x if spec.v_reset == 0.0 else x + spec.v_reset
        torch.lerp(v, target, decay, out=out)
    else:
        # v - k (v - v_reset) + x = lerp(v, v_reset, k) + x
        torch.lerp(v, torch.full_like(v, spec.v_reset), decay, out=out)
        out.add_(x)


def _blocks(x_seq: Tensor) -> list[slice]:
    """Split the flattened neuron dimension into blocks (one block off the CPU)."""
    count = x_seq[0].numel()
    size = CPU_BLOCK_ELEMENTS if x_seq.device.type == "cpu" else max(count, 1)
    return [slice(start, min(start + size, count)) for start in range(0, count, size)]


def _flat_initial_state(v0: Tensor, step_shape: torch.Size) -> Tensor:
    """Return ``v0`` broadcast to one step and flattened: a stride-0 view for a scalar."""
    return v0.expand(step_shape).reshape(-1)


def eager_forward(
    spec: FusedSpec,
    x_seq: Tensor,
    v0: Tensor,
    threshold: Tensor,
    decay: Tensor,
    keep_potentials: bool = True,
) -> tuple[Tensor, Tensor | None]:
    """Run the dynamics over ``x_seq [T, B, ...]``; the contract of :func:`fused.forward_kernel`."""
    steps = x_seq.shape[0]
    flat_x = x_seq.reshape(steps, -1)
    spikes = torch.empty_like(flat_x)
    potentials = torch.empty_like(flat_x) if keep_potentials else None
    v_reset = torch.tensor(spec.v_reset, dtype=x_seq.dtype, device=x_seq.device)
    flat_v0 = _flat_initial_state(v0, x_seq.shape[1:])
    for block in _blocks(x_seq):
        v = flat_v0[block]
        for t in range(steps):
            x = flat_x[t, block]
            h = potentials[t, block] if potentials is not None else torch.empty_like(x)
            _charge_into(spec, h, x, v, decay)
            spike = spikes[t, block]
            torch.ge(h, threshold, out=spike)
            if spec.reset_mode == "hard":
                v = torch.lerp(h, v_reset, spike)
            elif spec.reset_mode == "soft":
                v = torch.addcmul(h, spike, threshold, value=-1.0)
            else:
                v = h
    return (
        spikes.view_as(x_seq),
        potentials.view_as(x_seq) if potentials is not None else None,
    )


def eager_backward(
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
    """Back-propagate through the dynamics; the contract of :func:`fused.backward_kernel`."""
    steps = h_seq.shape[0]
    flat_grad_spikes = grad_spikes.reshape(steps, -1)
    flat_h = h_seq.reshape(steps, -1)
    flat_x = x_seq.reshape(steps, -1) if x_seq is not None else None
    flat_v0 = _flat_initial_state(v0, h_seq.shape[1:])
    grad_x = torch.empty_like(flat_h)
    grad_v0 = torch.empty_like(flat_h[0])
    grad_threshold = torch.zeros((), dtype=h_seq.dtype, device=h_seq.device)
    grad_decay = torch.zeros((), dtype=h_seq.dtype, device=h_seq.device)
    for block in _blocks(h_seq):
        block_grads = _backward_block(
            spec,
            flat_grad_spikes[:, block],
            flat_h[:, block],
            flat_x[:, block] if flat_x is not None else None,
            flat_v0[block],
            threshold,
            decay,
            grad_x[:, block],
            need_threshold_grad,
            need_decay_grad,
        )
        grad_v0[block] = block_grads[0]
        grad_threshold = grad_threshold + block_grads[1]
        grad_decay = grad_decay + block_grads[2]
    return grad_x.view_as(h_seq), grad_v0.view_as(h_seq[0]), grad_threshold, grad_decay


def _backward_block(
    spec: FusedSpec,
    grad_spikes: Tensor,
    h_seq: Tensor,
    x_seq: Tensor | None,
    v0: Tensor,
    threshold: Tensor,
    decay: Tensor,
    grad_x: Tensor,
    need_threshold_grad: bool,
    need_decay_grad: bool,
) -> tuple[Tensor, Tensor, Tensor]:
    """Back-propagate one block ``[T, N]``, writing ``grad_x``; return the v0, threshold and decay
    gradients."""
    grad_v = torch.zeros_like(h_seq[0])
    spike = torch.empty_like(h_seq[0])
    grad_threshold = torch.zeros((), dtype=h_seq.dtype, device=h_seq.device)
    grad_decay = torch.zeros((), dtype=h_seq.dtype, device=h_seq.device)
    resets_through_spike = spec.reset_mode != "none" and not spec.detach_reset

    for t in range(h_seq.shape[0] - 1, -1, -1):
        h = h_seq[t]
        u = h - threshold
        slope = spec.surrogate.derivative(u)

        # dL/ds: the incoming gradient plus the reset's dependence on the spike.
        if resets_through_spike and spec.reset_mode == "hard":
            if spec.v_reset == 0.0:
                grad_h = torch.addcmul(grad_spikes[t], grad_v, h, value=-1.0)
            else:
                grad_h = torch.addcmul(grad_spikes[t], grad_v, spec.v_reset - h)
        elif resets_through_spike:
            grad_h = torch.addcmul(grad_spikes[t], grad_v, threshold, value=-1.0)
        else:
            grad_h = grad_spikes[t].clone()
        grad_h.mul_(slope)  # dL/ds * surrogate slope: the path through the spike

        if need_threshold_grad:
            grad_threshold = grad_threshold - grad_h.sum()

        # Add the path that bypasses the spike: dv/dh = 1 - s (hard reset) or 1.
        grad_h.add_(grad_v)
        if spec.reset_mode == "hard" or (need_threshold_grad and spec.reset_mode == "soft"):
            torch.ge(u, 0.0, out=spike)
            if spec.reset_mode == "hard":
                grad_h.addcmul_(grad_v, spike, value=-1.0)
            else:
                grad_threshold = grad_threshold - torch.dot(grad_v, spike)

        if spec.has_leak and need_decay_grad:
            dh_ddecay = charge_decay_derivative(spec, t, h_seq, x_seq, v0, threshold)
            grad_decay = grad_decay + torch.dot(grad_h, dh_ddecay)

        if not spec.has_leak:
            grad_x[t].copy_(grad_h)
            grad_v = grad_h
        elif spec.decay_input:
            torch.mul(grad_h, decay, out=grad_x[t])
            grad_v = grad_h.sub_(grad_x[t])  # grad_h (1 - k)
        else:
            grad_x[t].copy_(grad_h)
            grad_v = grad_h.mul_(1.0 - decay)
    return grad_v, grad_threshold, grad_decay
