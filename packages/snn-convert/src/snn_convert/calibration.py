"""Offset-spike calibration (COS) and residual-membrane masks (SRP), in normalised units.

All functions here work on inputs divided by the firing threshold, so the threshold is 1, the
neuron starts from ``1/2`` and resets by subtraction. Sequences are time-major ``[S, B, ...]``.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "cos_initial_potential",
    "desired_spike_count",
    "offset_spikes",
    "simulate_if",
    "srp_mask",
]

_NEVER_FIRED = 1e9
_ALWAYS_FIRED = -1e9


def simulate_if(x: Tensor, v0: Tensor | float = 0.5) -> tuple[Tensor, Tensor, Tensor]:
    """Run a soft-reset IF neuron with threshold 1 over ``x``.

    Args:
        x: Normalised input current ``[S, B, ...]`` (input divided by the threshold).
        v0: Initial potential, a scalar or ``[B, ...]``.

    Returns:
        ``(spikes [S, B, ...], potential after the last reset [B, ...], pre-reset potentials
        [S, B, ...])``.
    """
    v = torch.as_tensor(v0, dtype=x.dtype, device=x.device).expand(x.shape[1:]).clone()
    spikes, potentials = [], []
    for t in range(x.shape[0]):
        u = v + x[t]
        s = (u >= 1.0).to(x.dtype)
        v = u - s
        spikes.append(s)
        potentials.append(u)
    return torch.stack(spikes), v, torch.stack(potentials)


def desired_spike_count(x: Tensor) -> Tensor:
    """Return the QCFS spike count ``clip(floor(sum_t x + 1/2), 0, S)`` for ``x [S, B, ...]``."""
    window = x.shape[0]
    return torch.clamp(torch.floor(x.sum(0) + 0.5), 0, window)


def offset_spikes(x: Tensor, v0: Tensor | float = 0.5) -> Tensor:
    """Return the offset spikes ``psi = N_SNN - N_ANN`` of an IF neuron over the window ``x``.

    From "Bridging the Gap between ANNs and SNNs by Calibrating Offset Spikes" (Hao et al., ICLR
    2023): the offset spike is the actual spike count minus the count a QCFS activation with level
    ``L = S`` gives for the same mean input.

    Args:
        x: Normalised input ``[S, B, ...]``.
        v0: Initial potential, scalar or ``[B, ...]``.

    Returns:
        Integer-valued float tensor ``[B, ...]``.
    """
    spikes, _, _ = simulate_if(x, v0)
    return spikes.sum(0) - desired_spike_count(x)


def _shift_rules(
    v0: Tensor,
    spikes: Tensor,
    residual: Tensor,
    potentials: Tensor,
    count: Tensor,
    round_index: int,
) -> Tensor:
    fired = spikes > 0
    min_fire = torch.where(fired, potentials, torch.full_like(potentials, _NEVER_FIRED)).amin(0)
    max_quiet = torch.where(fired, torch.full_like(potentials, _ALWAYS_FIRED), potentials).amax(0)
    k = round_index
    extra = (residual < -(k - 1)) & (count > k - 1)
    missing = residual >= k
    lowered = v0 - torch.clamp(min_fire - 0.999, min=1.0)
    raised = v0 + torch.clamp(1.001 - max_quiet, min=1.0)
    shifted = torch.where(extra, lowered, v0)
    return torch.where(missing, raised, shifted)  # the missing-spike rule overrides


def cos_initial_potential(x: Tensor, rounds: int = 1) -> Tensor:
    """Compute the calibrated initial potential of every neuron from a rho-step pre-simulation.

    Implements the initial-membrane shift of "Bridging the Gap between ANNs and SNNs by Calibrating
    Offset Spikes" (Hao et al., ICLR 2023), per sample and per neuron:

    1. Run ``rho = S`` IF steps from ``v = 1/2`` and keep the spike count ``N``, the residual ``r``
       after the last reset, the lowest potential that fired ``m_fire`` and the highest potential
       that did not fire ``m_quiet``.
    2. One spike too many (``r < 0`` and ``N > 0``): ``v0 = 1/2 - max(m_fire - 0.999, 1)``, so the
       lowest firing potential ends just below the threshold.
    3. One spike too few (``r >= 1``): ``v0 = 1/2 + max(1.001 - m_quiet, 1)``, so the highest
       quiet potential reaches it. This rule overrides step 2.
    4. Otherwise ``v0 = 1/2``.

    Round ``k > 1`` (optional) reruns the pre-simulation from the current ``v0`` and applies the
    same shifts where ``r < -(k - 1)`` and ``N > k - 1`` (down) or ``r >= k`` (up).

    Args:
        x: Normalised input of the first ``rho`` steps ``[rho, B, ...]``.
        rounds: Number of calibration rounds, >= 1. Round 1 is the published method.

    Returns:
        Initial potentials ``[B, ...]`` in normalised units.

    Raises:
        ValueError: If ``rounds < 1`` or ``x`` has no time steps.
    """
    if rounds < 1:
        raise ValueError(f"COS needs rounds >= 1, got {rounds}")
    if x.shape[0] == 0:
        raise ValueError("COS pre-simulation needs rho >= 1 input steps, got an empty sequence")
    v0 = torch.full(x.shape[1:], 0.5, dtype=x.dtype, device=x.device)
    count = torch.zeros_like(v0)
    for k in range(1, rounds + 1):
        spikes, residual, potentials = simulate_if(x, v0)
        # NOTE: the spike count accumulates over rounds, as in the reference release; whether the
        # published iterative algorithm resets it is not known.
        count = count + spikes.sum(0)
        v0 = _shift_rules(v0, spikes, residual, potentials, count, k)
    return v0


def srp_mask(x: Tensor, threshold: float = 1e-3) -> tuple[Tensor, Tensor]:
    """Run the SRP pre-steps and return the spikes and the residual-membrane mask.

    From "Reducing ANN-SNN Conversion Error through Residual Membrane Potential" (Hao et al., AAAI
    2023): starting from ``1/2``, a residual ``v(tau) <= 0`` after ``tau`` steps means the neuron fired
    at least one spike more than the QCFS count ``floor(sum x + 1/2)``, so it is silenced for the
    rest of the inference.

    Args:
        x: Normalised input of the ``tau`` pre-steps ``[tau, B, ...]``.
        threshold: The mask keeps neurons whose residual exceeds this value.

    Returns:
        ``(spikes of the pre-steps [tau, B, ...], mask [B, ...] with 1 = keep)``.
    """
    spikes, residual, _ = simulate_if(x, 0.5)
    return spikes, (residual > threshold).to(x.dtype)
