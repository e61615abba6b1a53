from __future__ import annotations

import pytest
import torch

from snn_core.encoding import DirectEncoder, LatencyEncoder, RateEncoder, SpikeCameraEncoder
from snn_core.registry import ENCODERS


@pytest.mark.parametrize("name", ENCODERS.names())
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_encoder_keeps_dtype_and_shape(name: str, dtype: torch.dtype) -> None:
    encoder = ENCODERS.build(name, time_steps=5)
    x = torch.rand(3, 2, 4).to(dtype)
    out = encoder(x)
    assert out.shape == (5, 3, 2, 4)
    assert out.dtype == dtype


def test_direct_repeats_input() -> None:
    x = torch.rand(2, 3)
    out = DirectEncoder(4)(x)
    assert torch.equal(out, x.expand(4, 2, 3))


def test_rate_is_reproducible_with_seed_and_unbiased() -> None:
    x = torch.tensor([0.0, 0.25, 0.5, 1.0]).repeat(2000, 1)
    first = RateEncoder(50, seed=3)(x)
    second = RateEncoder(50, seed=3)(x)
    assert torch.equal(first, second)
    rates = first.mean(dim=(0, 1))
    assert rates[0] == 0.0
    assert rates[3] == 1.0
    assert torch.allclose(rates[1:3], torch.tensor([0.25, 0.5]), atol=0.01)


def test_rate_straight_through_gradient() -> None:
    x = torch.full((2, 3), 0.5, requires_grad=True)
    spikes = RateEncoder(4, seed=0)(x)
    (spikes * 2.0).sum().backward()
    assert torch.equal(x.grad, torch.full((2, 3), 8.0))


def test_latency_brighter_fires_earlier() -> None:
    out = LatencyEncoder(5)(torch.tensor([1.0, 0.5, 0.0]))
    assert out.sum(0).tolist() == [1.0, 1.0, 0.0]
    assert out[:, 0].argmax().item() == 0
    assert out[:, 1].argmax().item() == 2


@pytest.mark.parametrize("intensity", [0.1, 0.37, 0.8, 1.0])
def test_spike_camera_rate_is_proportional(intensity: float) -> None:
    encoder = SpikeCameraEncoder(400, threshold=2.0, gain=1.0)
    rate = float(encoder(torch.full((1, 10), intensity)).mean())
    assert rate == pytest.approx(intensity / 2.0, abs=1.0 / 400)


def test_spike_camera_counts_follow_integrate_and_fire() -> None:
    # gain 1, threshold 2, intensity 0.8: accumulator 0.8, 1.6, 2.4 -> fire (0.4), 1.2, 2.0 -> fire
    spikes = SpikeCameraEncoder(5, threshold=2.0)(torch.tensor([[0.8]]))
    assert spikes.flatten().tolist() == [0.0, 0.0, 1.0, 0.0, 1.0]


def test_spike_camera_random_phase_and_noise() -> None:
    x = torch.full((1, 5000), 0.3)
    quiet = SpikeCameraEncoder(20, random_phase=True, seed=1)(x)
    assert quiet[0].mean() > 0.0  # with a random phase some pixels fire at once
    noisy = SpikeCameraEncoder(20, random_phase=True, noise_rate=0.05, seed=1)(x)
    extra = float(noisy.mean() - quiet.mean())
    assert extra == pytest.approx(0.05 * (1 - float(quiet.mean())), abs=0.01)


def test_spike_camera_straight_through_gradient() -> None:
    x = torch.full((2, 2), 0.5, requires_grad=True)
    SpikeCameraEncoder(3, threshold=2.0, gain=1.0)(x).sum().backward()
    assert torch.allclose(x.grad, torch.full((2, 2), 3 * 0.5))


def test_invalid_time_steps_rejected() -> None:
    with pytest.raises(ValueError, match="time_steps"):
        DirectEncoder(0)
