"""USP-Gaussian's Recon-Net: input layout, multi-reblur loss and a short self-supervised run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spike_3dgs import (
    ReconNet,
    ReconNetConfig,
    ReconTrainConfig,
    build_voxel,
    multi_reblur_loss,
    reconstruct_with_net,
    simulate_spikes,
    train_recon_net,
)
from spike_3dgs.recon_net import view_windows


def test_default_layout_matches_usp_gaussian() -> None:
    config = ReconNetConfig()
    assert config.clip_length == 177
    assert config.centre_frame == 88
    assert [config.view_frame(k) for k in (0, 6, 12)] == [40, 88, 136]


def test_voxel_interleaves_frames() -> None:
    config = ReconNetConfig()
    # Frame f of the clip has the value f, so sums of frame indices are easy to predict.
    clip = torch.arange(177, dtype=torch.float64).view(1, 177, 1, 1).expand(1, 177, 2, 2)
    voxel = build_voxel(clip, config)
    assert voxel.shape == (1, 34, 2, 2)
    # Frames 20..156 minus the middle one (88): index i < 68 -> frame 20 + i, else frame 21 + i.
    kept = [20 + i if i < 68 else 21 + i for i in range(136)]
    expected = [sum(kept[j + 34 * g] for g in range(4)) for j in range(34)]
    assert voxel[0, :, 0, 0].tolist() == expected


def test_view_windows_are_centred() -> None:
    config = ReconNetConfig()
    clip = torch.arange(177, dtype=torch.float32).view(1, 177, 1, 1)
    windows = view_windows(clip, config, views=[0, 12])
    assert windows.shape == (1, 2, 41, 1, 1)
    assert windows[0, 0, :, 0, 0].tolist() == list(range(20, 61))
    assert windows[0, 1, :, 0, 0].tolist() == list(range(116, 157))


def test_forward_shapes_and_time_index() -> None:
    torch.manual_seed(0)
    net = ReconNet(ReconNetConfig(hidden=8, wide=8, narrow=4))
    clip = (torch.rand(2, 177, 12, 10) < 0.3).float()
    out = net(clip)
    assert out.shape == (2, 13, 12, 10)
    assert torch.isfinite(out).all()
    # Views differ only through the window and the index; a constant clip isolates the index.
    constant = torch.zeros(1, 177, 6, 6)
    per_view = net(constant)[0, :, 3, 3]
    assert len(set(per_view.tolist())) > 1
    assert net.time_index(torch.tensor([0, 6, 12])).tolist() == [0.0, 0.5, 1.0]


def test_reblur_loss_zero_for_exact_rates() -> None:
    config = ReconNetConfig()
    # A static clip: every reblur window's TFP is the same image, so predicting that image at
    # every view gives zero loss, and an offset prediction gives the offset as loss.
    clip = torch.ones(1, 177, 4, 4)
    clip[:, :, :2] = 0.0
    rate = clip[:, 40:137].mean(1)
    predictions = rate.unsqueeze(1).expand(1, 13, 4, 4)
    assert multi_reblur_loss(predictions, clip, config).item() == pytest.approx(0.0, abs=1e-7)
    shifted = predictions + 0.1
    assert multi_reblur_loss(shifted, clip, config).item() == pytest.approx(0.1, abs=1e-6)


def test_reblur_loss_uses_each_window() -> None:
    config = ReconNetConfig(reblur_half_widths=(3,))
    clip = torch.zeros(1, 177, 1, 1)
    clip[:, 64:113] = 1.0  # exactly frames 40 + 8*3 .. 40 + 8*9
    predictions = torch.zeros(1, 13, 1, 1)
    assert multi_reblur_loss(predictions, clip, config).item() == pytest.approx(1.0)


def test_config_rejects_bad_layout() -> None:
    with pytest.raises(ValueError, match="odd"):
        ReconNetConfig(window=40)
    with pytest.raises(ValueError, match="multiple of voxel_bins"):
        ReconNetConfig(voxel_bins=33)
    with pytest.raises(ValueError, match="half-width"):
        ReconNetConfig(reblur_half_widths=(7,))
    assert ReconNetConfig.from_json(ReconNetConfig().to_json()) == ReconNetConfig()


def test_short_training_lowers_loss_and_reconstructs() -> None:
    # A small network on a simulated static 16x16 scene, trained on the stream alone: the reblur
    # loss must fall and the reconstruction error must drop clearly below the untrained network's.
    rng = np.random.default_rng(0)
    scene = np.clip(rng.random((1, 4, 4)).repeat(4, 1).repeat(4, 2), 0.05, 0.95).astype(np.float32)
    spikes = simulate_spikes(scene, steps_per_frame=180, seed=0)
    net_config = ReconNetConfig(hidden=16, wide=16, narrow=8)
    untrained, _ = train_recon_net(
        spikes, net_config, ReconTrainConfig(steps=0, crop_size=12, log_every=0)
    )
    untrained_error = np.abs(
        reconstruct_with_net(untrained, spikes, center=90, max_rate=0.5).numpy() - scene[0]
    ).mean()
    train_config = ReconTrainConfig(steps=40, batch_size=2, crop_size=12, lr=3e-3, log_every=0)
    net, history = train_recon_net(spikes, net_config, train_config)
    losses = history["loss"]
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    image = reconstruct_with_net(net, spikes, center=90, max_rate=0.5).numpy()
    error = np.abs(image - scene[0]).mean()
    assert error < 0.7 * untrained_error


def test_training_rejects_short_stream() -> None:
    with pytest.raises(ValueError, match="a clip needs 177"):
        train_recon_net(np.zeros((100, 8, 8), dtype=np.uint8))


def test_reconstruct_rejects_clip_outside_stream() -> None:
    net = ReconNet(ReconNetConfig(hidden=4, wide=4, narrow=4))
    with pytest.raises(ValueError, match="choose a centre"):
        reconstruct_with_net(net, np.zeros((200, 8, 8), dtype=np.uint8), center=20)
