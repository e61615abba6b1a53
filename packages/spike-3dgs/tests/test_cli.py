"""The `snn spike` command through snn-core's CLI and plugin hook."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage.io import imread

from snn_core.cli import main
from spike_3dgs import read_spikes, tfp, write_spikes


def test_spike_command_is_registered(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["spike", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name in ("info", "view", "reconstruct", "simulate"):
        assert name in out


def test_simulate_then_info_view_reconstruct(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stream = tmp_path / "demo.dat"
    code = main(
        [
            "spike",
            "simulate",
            "--out",
            str(stream),
            "--steps",
            "120",
            "--height",
            "32",
            "--width",
            "48",
            "--out-dir",
            str(tmp_path / "sim"),
            "--device",
            "cpu",
        ]
    )
    assert code == 0
    spikes = read_spikes(stream, 32, 48)
    assert spikes.shape == (120, 32, 48)
    results = json.loads((tmp_path / "sim" / "results.json").read_text())
    assert results["shape"] == [120, 32, 48]
    assert results["seed"] == 0
    truth = imread(tmp_path / "sim" / "ground_truth.png").astype(np.float64) / 255
    assert truth.shape == (32, 48)

    capsys.readouterr()
    assert main(["spike", "info", str(stream), "--height", "32", "--width", "48"]) == 0
    assert "120 frames of 32x48" in capsys.readouterr().out

    view_dir = tmp_path / "view"
    args = ["spike", "view", str(stream), "--height", "32", "--width", "48", "--frames", "3"]
    assert main([*args, "--out-dir", str(view_dir), "--device", "cpu"]) == 0
    assert sorted(p.name for p in view_dir.glob("frame_*.png")) == [
        "frame_00000.png",
        "frame_00001.png",
        "frame_00002.png",
    ]
    assert (view_dir / "overview.png").is_file()

    recon_dir = tmp_path / "recon"
    args = [
        "spike",
        "reconstruct",
        str(stream),
        "--height",
        "32",
        "--width",
        "48",
        "--method",
        "tfp",
        "--window",
        "101",
        "--max-rate",
        "0.5",
    ]
    assert main([*args, "--out-dir", str(recon_dir), "--device", "cpu"]) == 0
    image = imread(recon_dir / "tfp_frame00060.png").astype(np.float64) / 255
    # A static scene: the 101-frame TFP matches the ground truth to within a few grey levels.
    assert np.abs(image - truth).mean() < 0.02
    assert json.loads((recon_dir / "results.json").read_text())["method"] == "tfp"


def test_reconstruct_tfi_on_npy(tmp_path: Path) -> None:
    spikes = np.zeros((20, 8, 8), dtype=np.uint8)
    spikes[::4] = 1
    write_spikes(tmp_path / "s.npy", spikes)
    args = [
        "spike",
        "reconstruct",
        str(tmp_path / "s.npy"),
        "--method",
        "tfi",
        "--center",
        "9",
        "--max-rate",
        "0.25",
        "--out-dir",
        str(tmp_path),
        "--device",
        "cpu",
    ]
    assert main(args) == 0
    image = imread(tmp_path / "tfi_frame00009.png")
    assert (image == 255).all()


def test_info_reports_bad_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.dat").write_bytes(b"\x00" * 10)
    code = main(["spike", "info", str(tmp_path / "bad.dat"), "--height", "8", "--width", "8"])
    assert code != 0
    assert "bad.dat: file size 10 bytes is not a whole number" in capsys.readouterr().err


def test_reconstruct_real_recording(shared_data: Path, tmp_path: Path) -> None:
    car = shared_data / "spike_camera/histsflow_real/car.dat"
    args = [
        "spike",
        "reconstruct",
        str(car),
        "--height",
        "250",
        "--width",
        "400",
        "--method",
        "tfp",
        "--out-dir",
        str(tmp_path),
        "--device",
        "cpu",
    ]
    assert main(args) == 0
    image = imread(tmp_path / "tfp_frame00100.png").astype(np.float64)
    assert image.shape == (250, 400)
    # The PNG is the 41-frame TFP at frame 100 with its 99th percentile mapped to white.
    expected = tfp(read_spikes(car, 250, 400), center=100, window=41).numpy()
    expected = np.clip(expected / np.percentile(expected, 99), 0, 1) * 255
    assert np.abs(image - expected).max() <= 0.5 + 1e-6
    assert (image == 255).mean() >= 0.01


def test_reconstruct_net_writes_checkpoint(tmp_path: Path) -> None:
    from snn_core.checkpoint import load_checkpoint
    from spike_3dgs import load_recon_net

    spikes = (np.random.default_rng(0).random((180, 16, 16)) < 0.3).astype(np.uint8)
    write_spikes(tmp_path / "s.npz", spikes)
    args = [
        "spike",
        "reconstruct",
        str(tmp_path / "s.npz"),
        "--method",
        "net",
        "--steps",
        "2",
        "--crop-size",
        "16",
        "--center",
        "90",
        "--out-dir",
        str(tmp_path),
        "--device",
        "cpu",
    ]
    assert main(args) == 0
    assert imread(tmp_path / "net_frame00090.png").shape == (16, 16)
    tensors, metadata = load_checkpoint(tmp_path / "recon_net")
    assert metadata["net_config"]["window"] == 41
    assert tensors["spike_branch.weight"].shape == (64, 41, 3, 3)
    net = load_recon_net(tmp_path / "recon_net")
    assert torch.equal(net.spike_branch.weight, tensors["spike_branch.weight"])
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["method"] == "net"
    assert np.isfinite(results["final_loss"])


def test_info_reads_the_npz_array_named_by_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spikes = (np.random.default_rng(1).random((12, 5, 7)) < 0.25).astype(np.uint8)
    np.savez(tmp_path / "two.npz", left=spikes, right=spikes[:, :, :3])
    assert main(["spike", "info", str(tmp_path / "two.npz"), "--out-dir", str(tmp_path / "a")]) == 1
    assert "--key" in capsys.readouterr().err
    args = ["spike", "info", str(tmp_path / "two.npz"), "--key", "right"]
    assert main([*args, "--out-dir", str(tmp_path / "b")]) == 0
    results = json.loads((tmp_path / "b" / "results.json").read_text())
    assert (results["num_frames"], results["height"], results["width"]) == (12, 5, 3)
    assert results["mean_rate"] == pytest.approx(float(spikes[:, :, :3].mean()))
