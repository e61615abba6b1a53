"""Simulator (on snn-core's spike-camera encoder) and the TFP/TFI baselines."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from snn_core.encoding import SpikeCameraEncoder
from spike_3dgs import SimulatorConfig, simulate_demo_stream, simulate_spikes, tfi, tfp
from spike_3dgs.simulate import make_panning_frames, to_grayscale


def test_firing_rate_proportional_to_intensity() -> None:
    levels = torch.linspace(0.0, 1.0, 11)
    frames = levels.view(1, 1, -1).expand(1, 4, -1).contiguous()
    spikes = simulate_spikes(frames, SimulatorConfig(steps_per_frame=2000, seed=1))
    rate = spikes.mean(axis=(0, 1))
    # gain / threshold = 0.5 spikes per step at intensity 1; the deterministic integrator is exact
    # to within one spike over 2000 steps.
    np.testing.assert_allclose(rate, 0.5 * levels.numpy(), atol=1.0 / 2000 + 1e-9)


def test_rate_scales_with_gain_and_threshold() -> None:
    frames = np.full((1, 2, 2), 0.5, dtype=np.float32)
    spikes = simulate_spikes(frames, steps_per_frame=1000, gain=1.2, threshold=1.0)
    assert spikes.mean() == pytest.approx(0.6, abs=1e-3)


def test_simulator_matches_snn_core_encoder() -> None:
    frames = torch.rand(50, 3, 5, generator=torch.Generator().manual_seed(0))
    config = SimulatorConfig(seed=7)
    spikes = simulate_spikes(frames, config)
    encoder = SpikeCameraEncoder(50, threshold=2.0, gain=1.0, random_phase=True, seed=7)
    expected = encoder.encode_sequence(frames.unsqueeze(1)).squeeze(1)
    np.testing.assert_array_equal(spikes, expected.to(torch.uint8).numpy())


def test_random_phase_desynchronises_pixels() -> None:
    frames = np.full((1, 16, 16), 0.3, dtype=np.float32)
    aligned = simulate_spikes(frames, steps_per_frame=20, random_phase=False)
    phased = simulate_spikes(frames, steps_per_frame=20, random_phase=True, seed=3)
    # Without a random phase every pixel fires at the same steps.
    assert (aligned == aligned[:, :1, :1]).all()
    first_spike = phased.argmax(0)
    assert len(np.unique(first_spike)) > 3


def test_noise_adds_spikes_at_noise_rate() -> None:
    frames = np.zeros((1, 32, 32), dtype=np.float32)
    spikes = simulate_spikes(frames, steps_per_frame=500, noise_rate=0.02, seed=0)
    assert spikes.mean() == pytest.approx(0.02, abs=0.002)


def test_linear_interpolation_blends_frames() -> None:
    frames = np.stack([np.zeros((2, 2)), np.ones((2, 2))]).astype(np.float32)
    config = SimulatorConfig(steps_per_frame=4, interpolation="linear", random_phase=False)
    from spike_3dgs.simulate import _expand_frames

    expanded = _expand_frames(torch.from_numpy(frames), config)
    assert expanded[:, 0, 0].tolist() == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 1.0]


def test_simulator_config_round_trips_json() -> None:
    config = SimulatorConfig(threshold=3.0, noise_rate=0.01, interpolation="linear")
    assert SimulatorConfig.from_json(config.to_json()) == config
    assert json.loads(config.to_json())["threshold"] == 3.0


def test_simulator_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match=r"\[N, H, W\]"):
        simulate_spikes(np.zeros((4, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="negative"):
        simulate_spikes(-np.ones((1, 4, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="steps_per_frame"):
        SimulatorConfig(steps_per_frame=0)


def test_grayscale_weights() -> None:
    rgb = np.zeros((1, 5, 5, 3), dtype=np.uint8)
    rgb[..., 0] = 255
    assert to_grayscale(rgb)[0, 0, 0].item() == pytest.approx(0.3)


def test_demo_stream_tfp_recovers_photo() -> None:
    spikes, frames = simulate_demo_stream("camera", num_steps=400, height=64, width=64)
    assert spikes.shape == (400, 64, 64)
    assert spikes.dtype == np.uint8
    image = tfp(spikes, max_rate=0.5).numpy()
    # Static scene: 400 steps give intensity to within 1 / (0.5 * 400) = 0.005 per pixel.
    assert np.abs(image - frames[0]).max() < 0.0051


def test_panning_frames_move() -> None:
    image = np.tile(np.linspace(0, 1, 200, dtype=np.float32), (50, 1))
    frames = make_panning_frames(image, num_frames=3, height=50, width=40, shift=10)
    assert frames.shape == (3, 50, 40)
    # A horizontal ramp shifted by 5 px per frame rises by 5 ramp steps.
    step = frames[1, 0, 0] - frames[0, 0, 0]
    assert step == pytest.approx(5 / 199, rel=0.05)


def test_tfp_window_mean() -> None:
    spikes = np.zeros((10, 1, 2), dtype=np.uint8)
    spikes[::2, 0, 0] = 1  # rate 0.5
    spikes[4:7, 0, 1] = 1
    image = tfp(spikes, center=5, window=3)  # frames 4, 5, 6
    assert image[0, 0].item() == pytest.approx(2 / 3)
    assert image[0, 1].item() == pytest.approx(1.0)
    assert tfp(spikes, max_rate=0.5)[0, 0].item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="outside the stream"):
        tfp(spikes, center=1, window=5)


def test_tfi_inverse_interval() -> None:
    spikes = np.zeros((20, 1, 3), dtype=np.uint8)
    spikes[[2, 6, 10, 14], 0, 0] = 1  # period 4
    spikes[[5, 15], 0, 1] = 1  # period 10
    image = tfi(spikes, center=8)
    assert image[0, 0].item() == pytest.approx(1 / 4)
    assert image[0, 1].item() == pytest.approx(1 / 10)
    assert image[0, 2].item() == 0.0  # never fired
    # A spike at the centre frame itself starts the interval.
    assert tfi(spikes, center=6)[0, 0].item() == pytest.approx(1 / 4)


def test_tfi_on_simulated_constant_intensity() -> None:
    frames = np.array([[[0.2, 0.5, 0.9]]], dtype=np.float32)
    spikes = simulate_spikes(frames, steps_per_frame=200, seed=2)
    image = tfi(spikes, center=100, max_rate=0.5).numpy()[0]
    # The period is 2 / intensity steps; one interval is that period rounded down or up.
    for value, intensity in zip(image, [0.2, 0.5, 0.9]):
        period = 2.0 / intensity
        allowed = [1.0 / np.floor(period) / 0.5, 1.0 / np.ceil(period) / 0.5]
        assert min(abs(value - a) for a in allowed) < 1e-6
