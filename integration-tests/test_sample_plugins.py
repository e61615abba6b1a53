"""The sample plugins installed with pip, seen through entry points, the registries and the CLI."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from snn_core.datasets import load_dataset
from snn_core.plugins import plugin_report
from snn_core.registry import ENCODERS, MODELS, NEURONS


def run_snn(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "snn_core", *arguments], capture_output=True, text=True, check=False
    )


def test_sample_plugin_listed_by_snn_plugins() -> None:
    result = run_snn("plugins")
    assert result.returncode == 0, result.stderr
    assert "snn-sample-plugin (snn-sample-plugin 0.1.0): ok" in result.stdout
    assert "neurons: sample-bounded-lif" in result.stdout
    assert "encoders: sample-noisy-direct" in result.stdout


def test_broken_plugin_reported_without_breaking_others() -> None:
    report = {info.name: info for info in plugin_report()}
    broken = report["snn-broken-plugin"]
    assert not broken.loaded
    assert "fails on import on purpose" in (broken.error or "")
    assert "broken-if" not in NEURONS
    assert report["snn-sample-plugin"].loaded
    assert "FAILED" in run_snn("plugins").stdout


def test_sample_neuron_built_by_name() -> None:
    neuron = NEURONS.build("sample-bounded-lif", v_floor=-0.5, tau=2.0)
    spikes = neuron(torch.full((3, 2, 4), -5.0))
    assert spikes.sum() == 0
    _, state = neuron.step(torch.full((2, 4), -5.0))
    assert torch.all(state == -0.5)


def test_network_with_sample_neuron_trains() -> None:
    torch.manual_seed(0)
    splits = load_dataset("digits")
    model = MODELS.build(
        "spiking-cnn",
        in_channels=1,
        num_classes=10,
        image_size=8,
        time_steps=2,
        neuron="sample-bounded-lif",
        neuron_kwargs={"decay_input": False},
        encoder={"name": "sample-noisy-direct", "sigma": 0.01},
    )
    images, labels = splits.train.tensors()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for step in range(30):
        batch = slice(64 * step % 1400, 64 * step % 1400 + 64)
        loss = torch.nn.functional.cross_entropy(model(images[batch]).mean(0), labels[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.3


def test_sample_subcommand_runs() -> None:
    result = run_snn("sample-hello", "--name", "CI")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hello from the sample plugin, CI"


def test_sample_encoder_from_registry() -> None:
    encoder = ENCODERS.build("sample-noisy-direct", time_steps=4, sigma=0.0)
    x = torch.rand(2, 3)
    assert torch.equal(encoder(x), x.expand(4, 2, 3))


@pytest.mark.parametrize("kind", ["neurons", "encoders"])
def test_snn_list_includes_plugin_entries(kind: str) -> None:
    result = run_snn("list", kind)
    assert "snn-sample-plugin" in result.stdout
