"""Conversion on real MNIST images (the t10k files, split into train and held-out parts)."""

import pytest
import torch
from torch.utils.data import DataLoader, Subset

from snn_convert import (
    ConversionConfig,
    convert_to_snn,
    evaluate_ann,
    evaluate_per_step,
    prepare_qcfs_model,
)
from snn_convert.models import VGG
from snn_convert.training import train_qcfs
from snn_core.datasets import DatasetSplits, load_dataset
from snn_core.training import TrainConfig


@pytest.fixture(scope="module")
def mnist_run(shared_data):
    full = load_dataset("mnist", data_dir=shared_data / "mnist", holdout_fraction=0.2, seed=0)
    splits = DatasetSplits(
        train=Subset(full.train, range(3000)), test=Subset(full.test, range(500)), info=full.info
    )
    torch.manual_seed(0)
    ann = prepare_qcfs_model(
        VGG([8, "M", 16, "M"], in_channels=1, num_classes=10, image_size=28, hidden=(64,)), level=4
    )
    config = TrainConfig(
        epochs=2,
        batch_size=64,
        lr=0.05,
        optimizer="sgd",
        weight_decay=5e-4,
        device="cpu",
        progress=False,
    )
    train_qcfs(ann, splits, config)
    ann.eval()
    loader = DataLoader(splits.test, batch_size=250)
    snn = convert_to_snn(ann, ConversionConfig(time_steps=4))
    results = {"ann": evaluate_ann(ann, loader)}
    for method, presim in (("plain", 0), ("cos", 4)):
        snn.configure(method, presim)
        results[method] = evaluate_per_step(snn, loader)["accuracy_per_step"]
    return results


def test_mnist_qcfs_ann_learns(mnist_run):
    assert mnist_run["ann"] > 0.85


def test_mnist_conversion_at_level_steps_near_ann(mnist_run):
    assert mnist_run["plain"][3] > mnist_run["ann"] - 0.1


def test_mnist_cos_first_step_not_worse(mnist_run):
    assert mnist_run["cos"][0] >= mnist_run["plain"][0]
