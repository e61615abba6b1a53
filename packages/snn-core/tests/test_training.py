from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from snn_core.cli import main
from snn_core.datasets import load_dataset
from snn_core.registry import MODELS
from snn_core.training import TrainConfig, Trainer, evaluate


def digits_model(time_steps: int = 4) -> torch.nn.Module:
    return MODELS.build(
        "spiking-cnn", in_channels=1, num_classes=10, image_size=8, time_steps=time_steps
    )


def test_spiking_cnn_learns_digits(tmp_path: Path) -> None:
    splits = load_dataset("digits")
    config = TrainConfig(epochs=6, batch_size=64, lr=3e-3, out_dir=str(tmp_path), progress=False)
    results = Trainer(digits_model(), splits, config).fit()
    assert results["test_accuracy"] > 0.85
    assert len(results["test_accuracy_per_step"]) == 4
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["test_accuracy"] == results["test_accuracy"]
    assert saved["seed"] == 0
    assert "torch" in saved["versions"]
    assert (tmp_path / "checkpoint.safetensors").is_file()


def test_resume_after_interruption_matches_straight_run(tmp_path: Path) -> None:
    splits = load_dataset("digits")
    small = type(splits)(
        train=splits.train.subset(range(256)), test=splits.test.subset(range(64)), info=splits.info
    )
    batches_per_epoch = 4  # 256 samples in batches of 64

    torch.manual_seed(0)
    straight = Trainer(
        digits_model(2), small, TrainConfig(epochs=3, out_dir=str(tmp_path / "a"), progress=False)
    ).fit()

    calls = 0

    def interrupted_loss(
        model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        nonlocal calls
        calls += 1
        if calls > 2 * batches_per_epoch:
            raise KeyboardInterrupt
        logits = model(images).mean(0)
        return torch.nn.functional.cross_entropy(logits, labels), logits

    torch.manual_seed(0)
    config = TrainConfig(epochs=3, out_dir=str(tmp_path / "b"), progress=False)
    with pytest.raises(KeyboardInterrupt):
        Trainer(digits_model(2), small, config, loss_fn=interrupted_loss).fit()

    resumed = Trainer(
        digits_model(2),
        small,
        TrainConfig(epochs=3, out_dir=str(tmp_path / "b"), resume=True, progress=False),
    ).fit()
    assert [entry["epoch"] for entry in resumed["history"]] == [1, 2, 3]
    assert resumed["history"][-1]["train_loss"] == pytest.approx(
        straight["history"][-1]["train_loss"], rel=1e-6
    )
    assert resumed["test_accuracy"] == straight["test_accuracy"]


def test_nan_loss_stops_with_clear_error(tmp_path: Path) -> None:
    splits = load_dataset("digits")

    def nan_loss(
        model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        logits = model(images).mean(0)
        return logits.sum() * float("nan"), logits

    trainer = Trainer(
        digits_model(2),
        splits,
        TrainConfig(epochs=1, out_dir=str(tmp_path), progress=False),
        loss_fn=nan_loss,
    )
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        trainer.fit()


def test_evaluate_reports_every_time_step() -> None:
    splits = load_dataset("digits")
    metrics = evaluate(digits_model(3), splits.test)
    assert len(metrics["accuracy_per_step"]) == 3
    assert metrics["samples"] == len(splits.test)


def test_cli_train_writes_results(tmp_path: Path) -> None:
    status = main(
        [
            "-q",
            "train",
            "--epochs",
            "1",
            "--time-steps",
            "2",
            "--out-dir",
            str(tmp_path),
            "--neuron-kwargs",
            '{"tau": 3.0}',
        ]
    )
    assert status == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["model"]["neuron_kwargs"] == {"tau": 3.0}
    assert (tmp_path / "log.txt").is_file()


def test_torchrun_trains_with_ddp_on_cpu(tmp_path: Path) -> None:
    # torch.distributed.run is the module behind the torchrun script, found without PATH.
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "-m",
        "snn_core",
        "-q",
        "train",
        "--epochs",
        "3",
        "--lr",
        "5e-3",
        "--time-steps",
        "2",
        "--out-dir",
        str(tmp_path),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["world_size"] == 2
    history = results["history"]
    assert len(history) == 3
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_existing_run_is_not_overwritten(tmp_path: Path) -> None:
    assert (
        main(["-q", "train", "--epochs", "1", "--time-steps", "1", "--out-dir", str(tmp_path)]) == 0
    )
    before = (tmp_path / "results.json").read_text()
    assert (
        main(["-q", "train", "--epochs", "1", "--time-steps", "1", "--out-dir", str(tmp_path)]) == 1
    )
    assert (tmp_path / "results.json").read_text() == before


def test_resume_with_other_settings_is_rejected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["-q", "train", "--epochs", "1", "--time-steps", "1", "--out-dir", str(tmp_path)]) == 0
    )
    assert (
        main(
            [
                "-q",
                "train",
                "--epochs",
                "2",
                "--time-steps",
                "1",
                "--out-dir",
                str(tmp_path),
                "--resume",
            ]
        )
        == 1
    )
    assert "epochs 1 -> 2" in capsys.readouterr().err
    assert (
        main(
            [
                "-q",
                "train",
                "--epochs",
                "1",
                "--time-steps",
                "1",
                "--neuron",
                "if",
                "--out-dir",
                str(tmp_path),
                "--resume",
            ]
        )
        == 1
    )
    assert "model" in capsys.readouterr().err


def test_invalid_neuron_kwargs_is_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-q", "train", "--epochs", "1", "--neuron-kwargs", '{"tua": 2.0}']) == 1
    error = capsys.readouterr().err
    assert "invalid --neuron-kwargs" in error
    assert "Traceback" not in error


def _write_image_folder(root: Path) -> None:
    from PIL import Image

    generator = np.random.default_rng(0)
    for label, value in (("dark", 30), ("bright", 220)):
        (root / label).mkdir(parents=True)
        for index in range(6):
            pixels = np.clip(generator.normal(value, 10, size=(12, 10, 3)), 0, 255)
            Image.fromarray(pixels.astype(np.uint8)).save(root / label / f"{index}.png")


def test_cli_passes_dataset_kwargs_to_the_reader(tmp_path: Path) -> None:
    _write_image_folder(tmp_path / "images")
    status = main(
        [
            "-q",
            "train",
            "--dataset",
            "image-folder",
            "--data-dir",
            str(tmp_path / "images"),
            "--dataset-kwargs",
            '{"image_size": 8, "grey": true}',
            "--holdout-fraction",
            "0.5",
            "--epochs",
            "1",
            "--time-steps",
            "1",
            "--out-dir",
            str(tmp_path / "run"),
        ]
    )
    assert status == 0
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["dataset"]["in_channels"] == 1
    assert results["dataset"]["image_size"] == 8


def test_cli_rejects_unknown_dataset_kwargs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_image_folder(tmp_path / "images")
    arguments = ["-q", "train", "--dataset", "image-folder", "--data-dir", str(tmp_path / "images")]
    assert main([*arguments, "--dataset-kwargs", '{"colour": true}']) == 1
    error = capsys.readouterr().err
    assert "invalid --dataset-kwargs" in error
    assert "colour" in error


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--max-grad-norm", "-1"], "max_grad_norm (--max-grad-norm) must be a positive number"),
        (["--lr", "nan"], "lr (--lr) must be a positive number"),
        (["--weight-decay", "nan"], "weight_decay (--weight-decay) must be a number >= 0"),
        (["--resume"], "resume (--resume) needs out_dir (--out-dir)"),
        (["--surrogate", ""], "unknown surrogate ''"),
    ],
)
def test_cli_rejects_settings_before_loading_data(
    arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # A dataset that would fail to load shows that the settings are checked first.
    status = main(["-q", "train", "--dataset", "mnist", "--data-dir", "/nonexistent", *arguments])
    assert status == 1
    assert message in capsys.readouterr().err


def test_cli_rejects_a_file_as_out_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "taken").write_text("")
    with pytest.raises(SystemExit):
        main(["train", "--out-dir", str(tmp_path / "taken")])
    assert "is a file, not a folder" in capsys.readouterr().err


@pytest.mark.parametrize("position", ["before", "after"])
def test_quiet_flag_either_side(
    position: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = ["train", "--epochs", "1", "--time-steps", "1", "--out-dir", str(tmp_path)]
    arguments = ["-q", *command] if position == "before" else [*command, "-q"]
    assert main(arguments) == 0
    captured = capsys.readouterr()
    assert "epoch 1" not in captured.err  # -q hides the per-epoch info lines
    assert "test accuracy" in captured.out
