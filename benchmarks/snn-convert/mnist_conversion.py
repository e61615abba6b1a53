"""Reproduce the COS / SRP / LM-HT comparison on MNIST at CPU scale.

The MNIST t10k files are split by class into 8,000 training and 2,000 held-out test images
(``holdout_fraction=0.2``, seed 0). A QCFS ANN (``vgg-small``, level L = 4) is trained on the 8,000
images, converted, and evaluated on the 2,000 held-out images:

* plain conversion, COS (rho = L) and SRP (tau = L): accuracy after every step t = 1..8 of one run;
* LM-HT (L_h = 2 levels) by the hybrid route for each T in 1, 2, 4, 8: QCFS ANN -> IF -> LM-HT,
  fine-tuned for a few epochs, then reparameterised to a single-threshold IF network with
  T * L_h steps, whose predictions are compared with the LM-HT network's.

Usage::

    python benchmarks/snn-convert/mnist_conversion.py --data-dir /path/to/mnist --out-dir runs/mnist

It writes ``results.json``, ``accuracy_vs_time_steps.png`` and ``table.md`` to ``--out-dir``.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from snn_convert import (
    ConversionConfig,
    compare_reparameterized,
    convert_to_snn,
    evaluate_ann,
    evaluate_per_step,
    hybrid_lmht_network,
    offset_spike_histograms,
    reparameterize_lmht,
    srp_mask_statistics,
)
from snn_convert.experiment import (
    ExperimentConfig,
    _build_qcfs_ann,
    _load_splits,
    load_qcfs_ann,
    plot_accuracy,
    save_qcfs_ann,
)
from snn_convert.training import train_classifier, train_qcfs
from snn_core.training import TrainConfig, environment_record, write_results

logger = logging.getLogger("mnist_conversion")

REPORTED_STEPS = (1, 2, 4, 8)


def _lmht_run(
    ann, splits, loader, level: int, steps: int, epochs: int, lr: float, seed: int
) -> dict:
    network = hybrid_lmht_network(ann, level=level, time_steps=steps)
    before = evaluate_per_step(network, loader)["accuracy_per_step"][-1]

    started = time.perf_counter()
    config = TrainConfig(
        epochs=epochs, batch_size=64, lr=lr, optimizer="sgd", weight_decay=5e-4, seed=seed,
        device="cpu", progress=False,
    )  # fmt: skip
    train_classifier(network, splits, config)
    seconds = time.perf_counter() - started

    network.eval()
    after = evaluate_per_step(network, loader)["accuracy_per_step"][-1]
    reparameterized = reparameterize_lmht(network)
    reparam_accuracy = evaluate_per_step(reparameterized, loader)["accuracy_per_step"][-1]

    single = compare_reparameterized(network, loader, dtype=torch.float32)
    double = compare_reparameterized(network, loader, dtype=torch.float64)
    return {
        "time_steps": steps,
        "level": level,
        "if_steps_equivalent": steps * level,
        "accuracy_before_finetune": before,
        "accuracy": after,
        "reparameterized_accuracy": reparam_accuracy,
        "reparameterized_prediction_agreement": single["prediction_agreement"],
        "reparameterized_max_logit_difference": single["max_logit_difference"],
        "reparameterized_max_logit_difference_float64": double["max_logit_difference"],
        "reparameterized_prediction_agreement_float64": double["prediction_agreement"],
        "finetune_epochs": epochs,
        "finetune_seconds": seconds,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-dir", required=True, help="folder with t10k-images/labels IDX files"
    )
    parser.add_argument("--out-dir", type=Path, default=Path("runs/mnist-conversion"))
    parser.add_argument("--arch", default="vgg-small")
    parser.add_argument("--level", type=int, default=4, help="QCFS level L (rho = tau = L)")
    parser.add_argument("--epochs", type=int, default=12, help="QCFS training epochs")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--lmht-level", type=int, default=2)
    parser.add_argument("--lmht-epochs", type=int, default=1, help="LM-HT fine-tuning epochs")
    parser.add_argument("--lmht-lr", type=float, default=0.005)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument(
        "--ann-checkpoint", default=None, help="load this QCFS ANN instead of training"
    )
    parser.add_argument("--skip-lmht", action="store_true", help="skip the LM-HT fine-tuning runs")
    parser.add_argument(
        "--lmht-steps",
        type=int,
        nargs="+",
        default=list(REPORTED_STEPS),
        help="LM-HT time steps T to fine-tune and reparameterise, one network each",
    )
    args = parser.parse_args()

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    started = time.perf_counter()

    config = ExperimentConfig(
        dataset="mnist", data_dir=args.data_dir, holdout_fraction=0.2, arch=args.arch,
        level=args.level, epochs=args.epochs, lr=args.lr, seed=args.seed, device="cpu",
        time_steps=max(REPORTED_STEPS),
    )  # fmt: skip
    splits = _load_splits(config)
    logger.info("split: %s", splits.info.split_note)
    if args.ann_checkpoint:
        ann, _ = load_qcfs_ann(args.ann_checkpoint, splits)
        train_seconds = 0.0
    else:
        ann = _build_qcfs_ann(config, splits, args.level)
        train_config = TrainConfig(
            epochs=args.epochs, batch_size=64, lr=args.lr, optimizer="sgd", weight_decay=5e-4,
            seed=args.seed, device="cpu", progress=False,
        )  # fmt: skip
        train_seconds = train_qcfs(ann, splits, train_config)["train_seconds"]
        info = splits.info
        save_qcfs_ann(args.out_dir / "ann", ann, {
            "arch": args.arch, "level": args.level, "in_channels": info.in_channels,
            "num_classes": info.num_classes, "image_size": info.image_size, "dataset": info.name,
        })  # fmt: skip
    ann.eval()
    loader = DataLoader(splits.test, batch_size=500)
    ann_accuracy = evaluate_ann(ann, loader)
    logger.info("ANN accuracy %.4f", ann_accuracy)

    results: dict = {
        "ann_accuracy": ann_accuracy,
        "qcfs_level": args.level,
        "dataset": splits.info.to_dict(),
        "train_seconds": train_seconds,
        "methods": {},
    }
    snn = convert_to_snn(ann, ConversionConfig(time_steps=max(REPORTED_STEPS)))
    for method, presim in (("plain", 0), ("cos", args.level), ("srp", args.level)):
        snn.configure(method, presim)
        evaluation = evaluate_per_step(snn, loader)
        results["methods"][method] = {
            "presim_steps": presim,
            "accuracy_per_step": evaluation["accuracy_per_step"],
        }
        logger.info("%s: %s", method, [round(a, 4) for a in evaluation["accuracy_per_step"]])
    # the same converted network with rho = tau different from L, for the sensitivity note
    for presim in sorted({1, 2, 8} - {args.level}):
        for method in ("cos", "srp"):
            snn.configure(method, presim)
            key = f"{method}_presim{presim}"
            results["methods"][key] = {
                "presim_steps": presim,
                "accuracy_per_step": evaluate_per_step(snn, loader)["accuracy_per_step"],
            }
    diagnostic_loader = DataLoader(torch.utils.data.Subset(splits.test, range(500)), batch_size=250)
    results["offset_spike_histograms"] = offset_spike_histograms(
        snn, diagnostic_loader, presim_steps=args.level
    )
    results["srp_mask_statistics"] = srp_mask_statistics(
        snn, diagnostic_loader, presim_steps=args.level
    )

    # the ANN evaluated at level 2L: what a converted network running longer approximates
    for module in ann.modules():
        if hasattr(module, "level") and module.__class__.__name__ == "QCFS":
            module.level = 2 * args.level
    results["ann_accuracy_at_level_2L"] = evaluate_ann(ann, loader)
    for module in ann.modules():
        if hasattr(module, "level") and module.__class__.__name__ == "QCFS":
            module.level = args.level

    lmht_runs = []
    for steps in () if args.skip_lmht else args.lmht_steps:
        run = _lmht_run(
            ann, splits, loader, args.lmht_level, steps, args.lmht_epochs, args.lmht_lr, args.seed
        )
        logger.info("LM-HT T=%d: %s", steps, run)
        lmht_runs.append(run)
    results["lmht_runs"] = lmht_runs
    results["command"] = "python benchmarks/snn-convert/mnist_conversion.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "out_dir"
    )
    results["seconds"] = time.perf_counter() - started
    results.update(environment_record("cpu", args.seed))

    write_results(args.out_dir / "results.json", results)
    plot_results = {
        "ann_accuracy": ann_accuracy,
        "dataset": results["dataset"],
        "methods": {k: v for k, v in results["methods"].items() if k in ("plain", "cos", "srp")},
    }
    plot_accuracy(plot_results, args.out_dir / "accuracy_vs_time_steps.png")
    table = _table(results)
    (args.out_dir / "table.md").write_text(table, encoding="utf-8")
    print(table)
    print(json.dumps(results["offset_spike_histograms"], indent=1))
    print(json.dumps(results["srp_mask_statistics"], indent=1))
    return 0


def _table(results: dict) -> str:
    lines = [
        f"ANN (QCFS, L={results['qcfs_level']}): {100 * results['ann_accuracy']:.2f} %; "
        f"same ANN at level 2L: {100 * results['ann_accuracy_at_level_2L']:.2f} %",
        "",
        "| method | pre-steps | T=1 | T=2 | T=4 | T=8 |",
        "|---|---|---|---|---|---|",
    ]
    for name, record in results["methods"].items():
        accuracy = record["accuracy_per_step"]
        cells = " | ".join(f"{100 * accuracy[t - 1]:.2f}" for t in REPORTED_STEPS)
        lines.append(f"| {name} | {record['presim_steps']} | {cells} |")
    runs = results["lmht_runs"]
    if not runs:
        return "\n".join(lines) + "\n"
    cells = " | ".join(f"{100 * r['accuracy']:.2f}" for r in runs)
    lines.append(f"| LM-HT (L={runs[0]['level']}, hybrid) | 0 | {cells} |")
    cells = " | ".join(f"{100 * r['reparameterized_accuracy']:.2f}" for r in runs)
    lines.append(f"| LM-HT reparameterised (T*L IF steps) | 0 | {cells} |")
    cells = " | ".join(f"{100 * r['accuracy_before_finetune']:.2f}" for r in runs)
    lines.append(f"| LM-HT before fine-tuning | 0 | {cells} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
