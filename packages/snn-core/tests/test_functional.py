from __future__ import annotations

import pytest
import torch
from torch import nn

from snn_core import (
    FiringRateMonitor,
    LIFNeuron,
    TimeDistributed,
    fold_time,
    rate_decode,
    unfold_time,
)


def test_time_distributed_equals_per_step() -> None:
    layer = nn.Conv2d(2, 3, 3, padding=1)
    x = torch.randn(4, 5, 2, 6, 6)
    folded = TimeDistributed(layer)(x)
    per_step = torch.stack([layer(x[t]) for t in range(4)])
    assert torch.allclose(folded, per_step, atol=1e-6)


def test_fold_unfold_round_trip() -> None:
    x = torch.randn(3, 2, 5)
    assert torch.equal(unfold_time(fold_time(x), 3), x)
    with pytest.raises(ValueError, match="time steps"):
        unfold_time(torch.zeros(7, 2), 3)


def test_rate_decode_is_time_mean() -> None:
    spikes = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0], [1.0, 0.0]])
    assert rate_decode(spikes).tolist() == [0.75, 0.25]


def test_firing_rate_monitor() -> None:
    model = nn.Sequential(LIFNeuron(tau=2.0), LIFNeuron(tau=2.0)).double()
    x = torch.tensor([2.4, 0.4, 1.8, 0.0], dtype=torch.float64).view(4, 1, 1)  # spikes at t0, t2
    with FiringRateMonitor(model) as monitor:
        model(x)
    rates = monitor.rates()
    assert rates["0"] == 0.5
    assert set(rates) == {"0", "1"}
    model(x)
    assert monitor.rates() == rates  # hooks removed on exit
