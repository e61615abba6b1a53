"""Shared fixtures: the real-data folder, small models and a trained digits model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from snn_core.functional import TimeDistributed
from snn_core.models.base import SpikingClassifier
from snn_core.neuron import LIFNeuron, set_default_backend

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# The eager fused kernel matches the reference loop and skips torch.compile's per-shape compile
# time, which would dominate these short tests on CPU.
set_default_backend("fused")
# Subnormal floats make CPU arithmetic many times slower in the gradients of small SNNs.
torch.set_flush_denormal(True)
# The test tensors are small: with several threads on a busy machine, thread hand-offs cost more
# than the parallel work saves.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Return the folder of real data files, or skip (fail with SNN_REQUIRE_SHARED_DATA=1)."""
    default = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
    path = Path(os.environ.get("SNN_SHARED_DATA", str(default))).resolve()
    if not path.is_dir():
        message = f"shared data folder {path} not found; set SNN_SHARED_DATA to its location"
        if os.environ.get("SNN_REQUIRE_SHARED_DATA") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


class TinySNN(SpikingClassifier):
    """Linear - LIF - linear classifier without batch norm, for exact gradient comparisons."""

    def __init__(
        self,
        in_features: int = 16,
        num_classes: int = 3,
        time_steps: int = 4,
        encoder: str = "direct",
    ) -> None:
        super().__init__(time_steps, encoder)
        self.hidden = TimeDistributed(nn.Flatten(), nn.Linear(in_features, 24))
        self.neuron = LIFNeuron(tau=2.0, v_threshold=0.5, surrogate="arctan")
        self.readout = TimeDistributed(nn.Linear(24, num_classes))

    def forward_sequence(self, x_seq: Tensor) -> Tensor:
        return self.readout(self.neuron(self.hidden(x_seq)))


@pytest.fixture
def tiny_snn() -> TinySNN:
    """Return a seeded tiny SNN for 1x4x4 images with 3 classes."""
    torch.manual_seed(0)
    model = TinySNN()
    with torch.no_grad():
        model.hidden.module[1].weight.mul_(3.0)  # make enough neurons fire
    return model


@pytest.fixture
def tiny_batch() -> tuple[Tensor, Tensor]:
    """Return 8 random images [8, 1, 4, 4] in [0, 1] and labels [8]."""
    generator = torch.Generator().manual_seed(1)
    images = torch.rand(8, 1, 4, 4, generator=generator)
    labels = torch.randint(0, 3, (8,), generator=generator)
    return images, labels
