"""Shared fixtures: the real-data folder and a small QCFS network trained on digits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# One intra-op thread: on a shared 2-core machine, two OpenMP threads per process slow small
# convolutions down by two orders of magnitude when other processes compete for the cores.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Return the folder of real data files (env ``SNN_SHARED_DATA`` or ``<repo>/../shared/data``)."""
    repo_root = Path(__file__).resolve().parents[3]
    path = Path(os.environ.get("SNN_SHARED_DATA", repo_root.parent / "shared" / "data"))
    if not path.is_dir():
        message = f"real data folder {path} not found; set SNN_SHARED_DATA to its location"
        if os.environ.get("SNN_REQUIRE_SHARED_DATA") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def digits_splits():
    """The embedded scikit-learn digits (8x8, 1438 train / 359 test images)."""
    from snn_core.datasets import load_dataset

    return load_dataset("digits")


@pytest.fixture(scope="session")
def digits_qcfs_ann(digits_splits):
    """A small VGG-style QCFS ANN (L = 4) trained for 12 epochs on digits (about 10 s on one core)."""
    from snn_convert import prepare_qcfs_model
    from snn_convert.models import VGG
    from snn_convert.training import train_qcfs
    from snn_core.training import TrainConfig

    torch.manual_seed(0)
    ann = VGG([16, "M", 32, "M"], in_channels=1, num_classes=10, image_size=8, hidden=(64,))
    ann = prepare_qcfs_model(ann, level=4)
    config = TrainConfig(
        epochs=12, batch_size=32, lr=0.05, optimizer="sgd", weight_decay=5e-4, device="cpu",
        progress=False,
    )  # fmt: skip
    results = train_qcfs(ann, digits_splits, config)
    return ann.eval(), results["test_accuracy"]
