"""The `snn robust` commands, on the embedded digits and on real MNIST files."""

from __future__ import annotations

import json

import pytest
import torch

from snn_core.cli import main
from snn_core.plugins import get_plugin_manager, plugin_report
from snn_robust import ModelSpec, save_model


def test_plugin_loads_and_adds_command(capsys):
    report = {info.name: info for info in plugin_report()}
    assert report["snn-robust"].loaded
    assert get_plugin_manager().has_plugin("snn-robust")
    with pytest.raises(SystemExit):
        main(["robust", "--help"])
    assert "train" in capsys.readouterr().out


def test_train_and_eval_on_digits(tmp_path, capsys):
    train_dir = tmp_path / "train"
    status = main(
        ["-q", "robust", "train", "--epochs", "1", "--lam", "0.05", "--out-dir", str(train_dir)]
    )
    assert status == 0
    trained = json.loads((train_dir / "results.json").read_text())
    assert trained["method"] == "regularized"
    assert trained["robust_config"]["lam"] == 0.05
    assert (train_dir / "model.safetensors").is_file()

    eval_dir = tmp_path / "eval"
    status = main(
        [
            "-q", "robust", "eval",
            "--checkpoint", str(train_dir / "model"),
            "--max-samples", "40", "--pgd-steps", "2", "--epsilons", "0.1",
            "--estimators", "bptt", "bptr",
            "--out-dir", str(eval_dir),
        ]
    )  # fmt: skip
    assert status == 0
    results = json.loads((eval_dir / "results.json").read_text())
    rows = results["models"][0]["rows"]
    assert [row["attack"]["kind"] for row in rows] == ["clean", "uniform", "fgsm", "pgd"]
    assert set(rows[2]["per_estimator"]) == {"bptt", "bptr"}
    assert all(0.0 <= row["accuracy"] <= 1.0 for row in rows)
    assert rows[0]["samples"] == 40
    assert results["seed"] == 0
    assert (eval_dir / "accuracy_vs_eps.png").stat().st_size > 1000
    assert "| regularized |" in capsys.readouterr().out


def test_adversarial_training_runs(tmp_path):
    status = main(
        [
            "-q", "robust", "train", "--epochs", "1", "--adversarial", "pgd",
            "--adversarial-steps", "2", "--adversarial-eps", "0.1", "--out-dir", str(tmp_path),
        ]
    )  # fmt: skip
    assert status == 0
    trained = json.loads((tmp_path / "results.json").read_text())
    assert trained["method"] == "vanilla+pgd-at"
    assert 0.0 <= trained["test_accuracy"] <= 1.0


def test_eval_on_mnist_files(shared_data, tmp_path):
    # Training on MNIST is too slow for a unit test, so it lives in the benchmark. An untrained
    # 28x28 model suffices to check that the command reads the IDX files, splits them and attacks.
    torch.manual_seed(0)
    spec = ModelSpec(
        "spiking-cnn",
        {"in_channels": 1, "num_classes": 10, "image_size": 28, "time_steps": 4, "neuron": "if"},
    )
    save_model(tmp_path / "model", spec.build(), spec, {"method": "untrained"})
    status = main(
        [
            "-q", "robust", "eval", "--checkpoint", str(tmp_path / "model"),
            "--dataset", "mnist", "--data-dir", str(shared_data / "mnist"),
            "--holdout-fraction", "0.2", "--max-samples", "30", "--pgd-steps", "1",
            "--epsilons", "0.3", "--estimators", "bptt-triangle", "--out-dir", str(tmp_path / "eval"),
        ]
    )  # fmt: skip
    assert status == 0
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    model = results["models"][0]
    assert model["dataset"]["image_size"] == 28
    assert "2000 held out" in model["dataset"]["split_note"]
    assert model["rows"][0]["samples"] == 30


def test_eval_reports_missing_checkpoint(tmp_path, capsys):
    status = main(
        ["robust", "eval", "--checkpoint", str(tmp_path / "nope"), "--out-dir", str(tmp_path)]
    )
    assert status == 1
    assert "not found" in capsys.readouterr().err


def test_eval_rejects_data_of_another_shape(shared_data, tmp_path, capsys):
    out = tmp_path / "digits"
    assert main(["-q", "robust", "train", "--epochs", "1", "--out-dir", str(out)]) == 0
    capsys.readouterr()
    status = main(
        [
            "-q", "robust", "eval", "--checkpoint", str(out / "model"), "--dataset", "mnist",
            "--data-dir", str(shared_data / "mnist"), "--holdout-fraction", "0.2",
        ]
    )  # fmt: skip
    assert status == 1
    error = capsys.readouterr().err
    assert "'image_size': 8" in error
    assert "'image_size': 28" in error


@pytest.mark.parametrize("eps", ["8", "-0.1", "nan", "big"])
def test_cli_rejects_eps_outside_pixel_range_before_work(tmp_path, capsys, eps):
    with pytest.raises(SystemExit):
        main(["robust", "eval", "--checkpoint", str(tmp_path / "missing"), "--epsilons", eps])
    assert "--epsilons" in capsys.readouterr().err
