import json

import pytest

from snn_core.cli import main


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("convert")
    code = main([
        "convert", "--epochs", "3", "--time-steps", "4", "--lmht-epochs", "1",
        "--max-eval-samples", "120", "--device", "cpu", "--seed", "1", "--out-dir", str(out_dir),
    ])  # fmt: skip
    return code, out_dir


def test_cli_convert_exits_zero(cli_run):
    code, _ = cli_run
    assert code == 0


def test_cli_convert_writes_results(cli_run):
    _, out_dir = cli_run
    results = json.loads((out_dir / "results.json").read_text())
    assert set(results["methods"]) == {"plain", "cos", "srp", "lmht"}
    assert len(results["methods"]["plain"]["accuracy_per_step"]) == 4
    assert results["methods"]["cos"]["presim_steps"] == 4  # rho defaults to the QCFS level
    assert results["seed"] == 1
    assert "torch" in results["versions"]
    assert 0.0 <= results["ann_accuracy"] <= 1.0
    lmht = results["methods"]["lmht"]
    assert lmht["reparameterized_prediction_agreement"] == 1.0


def test_cli_convert_writes_plot_and_checkpoint(cli_run):
    _, out_dir = cli_run
    assert (out_dir / "accuracy_vs_time_steps.png").stat().st_size > 1000
    assert (out_dir / "ann.safetensors").exists()
    assert (out_dir / "ann.json").exists()


def test_cli_convert_loads_checkpoint(cli_run, tmp_path, caplog):
    _, out_dir = cli_run
    code = main([
        "convert", "--ann-checkpoint", str(out_dir / "ann"), "--methods", "plain", "--time-steps", "2",
        "--level", "8", "--max-eval-samples", "120", "--device", "cpu", "--out-dir", str(tmp_path),
    ])  # fmt: skip
    first = json.loads((out_dir / "results.json").read_text())
    second = json.loads((tmp_path / "results.json").read_text())
    assert code == 0
    # The level belongs to the trained network: the checkpoint's L = 4 wins, with a warning.
    assert second["qcfs_level"] == 4
    assert "trained with QCFS level L = 4" in caplog.text
    assert second["train"]["loaded_from"] == str(out_dir / "ann")
    assert (
        second["methods"]["plain"]["accuracy_per_step"]
        == first["methods"]["plain"]["accuracy_per_step"][:2]
    )


def test_cli_rejects_unknown_method(capsys):
    with pytest.raises(SystemExit):
        main(["convert", "--methods", "plain,magic"])
    assert "invalid methods" in capsys.readouterr().err


def test_cli_convert_reads_cifar10_binary(tmp_path):
    # a tiny CIFAR-10 binary layout: 1 label byte then 3x32x32 pixels per record
    import numpy as np

    data_dir = tmp_path / "cifar-10-batches-bin"
    data_dir.mkdir()
    rng = np.random.default_rng(0)
    for name in [*(f"data_batch_{i}.bin" for i in range(1, 6)), "test_batch.bin"]:
        labels = rng.integers(0, 10, size=(8, 1), dtype=np.uint8)
        pixels = rng.integers(0, 256, size=(8, 3 * 32 * 32), dtype=np.uint8)
        np.concatenate([labels, pixels], axis=1).tofile(data_dir / name)
    out_dir = tmp_path / "out"
    code = main([
        "convert", "--dataset", "cifar10", "--data-dir", str(data_dir), "--arch", "resnet-small",
        "--epochs", "1", "--methods", "plain,cos", "--time-steps", "2", "--device", "cpu",
        "--out-dir", str(out_dir),
    ])  # fmt: skip
    results = json.loads((out_dir / "results.json").read_text())
    assert code == 0
    assert results["dataset"]["name"] == "cifar10"
    assert results["dataset"]["in_channels"] == 3
    assert len(results["methods"]["cos"]["accuracy_per_step"]) == 2


def test_cli_rejects_zero_eval_samples(tmp_path, capsys):
    assert main(["convert", "--max-eval-samples", "0", "--out-dir", str(tmp_path)]) == 1
    assert "max_eval_samples must be >= 1, got 0" in capsys.readouterr().err
