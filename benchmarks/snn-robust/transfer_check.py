"""Gradient-masking check: attack a source model and evaluate the examples on target models.

A regularized model that resisted white-box PGD only because its own gradients are uninformative
would fall to examples crafted on another model (a transfer, or black-box, attack). Transfer
accuracy well above the target's white-box accuracy means the white-box attack was working.

Usage: python transfer_check.py DATA_DIR SOURCE_CHECKPOINT TARGET_CHECKPOINT [...] [--eps 0.1]
"""

from __future__ import annotations

import argparse
import json

import torch

from snn_core.datasets import load_dataset
from snn_robust import make_loader, mean_logits, pgd, resolve_estimators
from snn_robust.training import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    parser.add_argument("source")
    parser.add_argument("targets", nargs="+")
    parser.add_argument("--eps", type=float, default=0.1)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--max-samples", type=int, default=500)
    args = parser.parse_args()

    torch.manual_seed(0)
    torch.set_flush_denormal(True)
    splits = load_dataset("mnist", data_dir=args.data_dir, holdout_fraction=0.2)
    loader = make_loader(splits.test, batch_size=250, max_samples=args.max_samples)
    source, _ = load_model(args.source)
    targets = {path: load_model(path)[0] for path in args.targets}
    estimators = resolve_estimators("ensemble")

    correct = {path: 0 for path in targets}
    total = 0
    for images, labels in loader:
        survived = {path: torch.ones_like(labels, dtype=torch.bool) for path in targets}
        for estimator in estimators:
            adversarial = pgd(
                source, images, labels, args.eps, steps=args.steps, estimator=estimator
            )
            with torch.no_grad():
                for path, target in targets.items():
                    survived[path] &= mean_logits(target, adversarial).argmax(1) == labels
        for path in targets:
            correct[path] += int(survived[path].sum())
        total += labels.shape[0]

    report = {
        "source": args.source,
        "eps": args.eps,
        "pgd_steps": args.steps,
        "samples": total,
        "transfer_accuracy": {path: count / total for path, count in correct.items()},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
