"""Measure what the SRP mask silences, per layer, on a small QCFS network trained on digits.

Usage::

    python benchmarks/snn-convert/srp_mask_digits.py

Prints the per-step accuracy of plain conversion and SRP (tau = L = 4), and per layer the fractions
of neurons that the mask silences, that fired although their QCFS output is 0, and that the mask
silences although their QCFS output is positive.
"""

from __future__ import annotations

import json

import torch
from torch.utils.data import DataLoader

from snn_convert import (
    ConversionConfig,
    convert_to_snn,
    evaluate_ann,
    evaluate_per_step,
    prepare_qcfs_model,
    srp_mask_statistics,
)
from snn_convert.models import build_ann
from snn_convert.training import train_qcfs
from snn_core.datasets import load_dataset
from snn_core.training import TrainConfig


def main() -> int:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    splits = load_dataset("digits")
    ann = prepare_qcfs_model(
        build_ann("vgg-small", in_channels=1, num_classes=10, image_size=8), level=4
    )
    config = TrainConfig(
        epochs=20, batch_size=32, lr=0.05, optimizer="sgd", weight_decay=5e-4, device="cpu",
        progress=False,
    )  # fmt: skip
    train_qcfs(ann, splits, config)
    ann.eval()
    loader = DataLoader(splits.test, batch_size=512)
    snn = convert_to_snn(ann, ConversionConfig(time_steps=8))
    report = {"ann_accuracy": evaluate_ann(ann, loader)}
    for method, presim in (("plain", 0), ("srp", 4), ("cos", 4)):
        snn.configure(method, presim)
        report[method] = evaluate_per_step(snn, loader)["accuracy_per_step"]
    report["srp_mask_statistics"] = srp_mask_statistics(snn, loader, presim_steps=4)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
