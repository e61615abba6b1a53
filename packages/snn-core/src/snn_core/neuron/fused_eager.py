"""Eager versions of the fused IF/LIF kernels, written for few passes over memory.

Without a compiler every elementwise operation is one pass over a ``[B, ...]`` step, so these
kernels use combined operations (``lerp``, ``addcmul``, ``masked_fill``), write into preallocated
outputs and update temporaries in place. They compute exactly the dynamics and gradients written in
:mod:`snn_core.neuron.fused`, whose functional kernels serve ``torch.compile``; the test suite holds
both against the reference loop.
"""

from __future__ import annotations

import torch
from torch import Tensor

from snn_core.neuron.fused import FusedSpec, charge_decay_derivative

__all__ = ["eager_backward", "eager_forward"]


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


def _reset(spec: FusedSpec, h: Tensor, fired: Tensor, spike: Tensor, threshold: Tensor) -> Tensor:
    if spec.reset_mode == "hard":
        return h.masked_fill(fired, spec.v_reset)
    if spec.reset_mode == "soft":
        return torch.addcmul(h, spike, threshold, value=-1.0)
    return h


def eager_forward(
    spec: FusedSpec,
    x_seq: Tensor,
    v0: Tensor,
    threshold: Tensor,
    decay: Tensor,
    keep_potentials: bool = True,
) -> tuple[Tensor, Tensor | None]:
    """Run the dynamics over ``x_seq [T, B, ...]``; the contract of :func:`fused.forward_kernel`."""
    spikes = torch.empty_like(x_seq)
    potentials = torch.empty_like(x_seq) if keep_potentials else None
    scratch = None if keep_potentials else torch.empty_like(x_seq[0])
    fired = torch.empty(x_seq.shape[1:], dtype=torch.bool, device=x_seq.device)
    v = v0.expand_as(x_seq[0])
    for t in range(x_seq.shape[0]):
        h = potentials[t] if potentials is not None else scratch
        assert h is not None
        _charge_into(spec, h, x_seq[t], v, decay)
        torch.ge(h, threshold, out=fired)
        spikes[t].copy_(fired)
        v = _reset(spec, h, fired, spikes[t], threshold)
        if scratch is not None and v is scratch:
            v = v.clone()  # the scratch buffer is overwritten by the next step
    return spikes, potentials


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
    grad_x = torch.empty_like(h_seq)
    grad_v = torch.zeros_like(h_seq[0])
    grad_threshold = torch.zeros((), dtype=h_seq.dtype, device=h_seq.device)
    grad_decay = torch.zeros((), dtype=h_seq.dtype, device=h_seq.device)
    resets_through_spike = spec.reset_mode != "none" and not spec.detach_reset

    for t in range(h_seq.shape[0] - 1, -1, -1):
        h = h_seq[t]
        u = h - threshold
        slope = spec.surrogate.derivative(u)
        fired = u >= 0

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
            if spec.reset_mode == "soft":
                grad_threshold = grad_threshold - (grad_v * fired).sum()

        # Add the path that bypasses the spike: dv/dh = 1 - s (hard reset) or 1.
        if spec.reset_mode == "hard":
            grad_h.add_(grad_v.masked_fill_(fired, 0.0))
        else:
            grad_h.add_(grad_v)

        if spec.has_leak and need_decay_grad:
            dh_ddecay = charge_decay_derivative(spec, t, h_seq, x_seq, v0, threshold)
            grad_decay = grad_decay + (grad_h * dh_ddecay).sum()

        if not spec.has_leak:
            grad_x[t].copy_(grad_h)
            grad_v = grad_h
        elif spec.decay_input:
            torch.mul(grad_h, decay, out=grad_x[t])
            grad_v = grad_h.sub_(grad_x[t])  # grad_h (1 - k)
        else:
            grad_x[t].copy_(grad_h)
            grad_v = grad_h.mul_(1.0 - decay)
    return grad_x, grad_v, grad_threshold, grad_decay
