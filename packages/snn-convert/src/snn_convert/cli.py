"""The ``snn convert`` command: a thin wrapper over :func:`snn_convert.experiment.run_experiment`."""

from __future__ import annotations

import argparse
import logging

from snn_convert.experiment import ExperimentConfig, run_experiment
from snn_core.cli import add_common_arguments

__all__ = ["add_convert_command"]

logger = logging.getLogger(__name__)


def _methods(text: str) -> list[str]:
    methods = [item.strip() for item in text.split(",") if item.strip()]
    unknown = sorted(set(methods) - {"plain", "cos", "srp", "lmht"})
    if unknown or not methods:
        raise argparse.ArgumentTypeError(
            f"invalid methods {text!r}; give a comma-separated list of plain, cos, srp, lmht"
        )
    return methods


def add_convert_command(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``snn convert`` to the ``snn`` command's subparsers."""
    parser = subparsers.add_parser(
        "convert",
        help="train or load a QCFS ANN and convert it to an SNN (plain, COS, SRP, LM-HT)",
        description="Train (or load) a QCFS ANN, convert it with the chosen methods, and write the "
        "accuracy after every time step to results.json with a plot.",
    )
    data = parser.add_argument_group("data")
    data.add_argument(
        "--dataset",
        default="digits",
        help="registered dataset: digits (embedded), mnist, cifar10, ...",
    )
    data.add_argument(
        "--data-dir", default=None, help="folder of the dataset files (not needed for digits)"
    )
    data.add_argument(
        "--holdout-fraction",
        type=float,
        default=None,
        help="with only t10k IDX files: fraction of them held out as the test split",
    )
    ann = parser.add_argument_group("QCFS ANN")
    ann.add_argument(
        "--arch",
        default="vgg-small",
        help="vgg-small, resnet-small, vgg16, resnet18, resnet20, resnet34",
    )
    ann.add_argument("--level", type=int, default=4, help="QCFS quantisation level L")
    ann.add_argument("--epochs", type=int, default=20, help="QCFS training epochs")
    ann.add_argument("--batch-size", type=int, default=64, help="training batch size")
    ann.add_argument("--lr", type=float, default=0.02, help="QCFS learning rate")
    ann.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd", help="QCFS optimiser")
    ann.add_argument(
        "--weight-decay", type=float, default=5e-4, help="L2 penalty, also on the thresholds"
    )
    ann.add_argument(
        "--ann-checkpoint",
        default=None,
        help="load this QCFS ANN (path without suffix, from a previous run's out-dir/ann)",
    )
    conversion = parser.add_argument_group("conversion")
    conversion.add_argument(
        "--methods",
        type=_methods,
        default=["plain", "cos", "srp", "lmht"],
        help="comma-separated methods: plain, cos, srp, lmht",
    )
    conversion.add_argument("--time-steps", type=int, default=8, help="reported time steps T")
    conversion.add_argument(
        "--presim-steps",
        type=int,
        default=None,
        help="COS rho and SRP tau (default: the QCFS level)",
    )
    conversion.add_argument("--cos-rounds", type=int, default=1, help="COS calibration rounds")
    conversion.add_argument("--lmht-level", type=int, default=2, help="LM-HT levels L")
    conversion.add_argument("--lmht-time-steps", type=int, default=2, help="LM-HT time steps T")
    conversion.add_argument("--lmht-epochs", type=int, default=3, help="LM-HT fine-tuning epochs")
    conversion.add_argument(
        "--lmht-lr", type=float, default=0.005, help="LM-HT fine-tuning learning rate"
    )
    conversion.add_argument(
        "--max-eval-samples",
        type=int,
        default=None,
        help="evaluate on the first N test samples only",
    )
    add_common_arguments(parser, out_dir="runs/convert")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    config = ExperimentConfig(
        dataset=args.dataset,
        data_dir=args.data_dir,
        holdout_fraction=args.holdout_fraction,
        arch=args.arch,
        level=args.level,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        optimizer=args.optimizer,
        weight_decay=args.weight_decay,
        ann_checkpoint=args.ann_checkpoint,
        methods=args.methods,
        time_steps=args.time_steps,
        presim_steps=args.presim_steps,
        cos_rounds=args.cos_rounds,
        lmht_level=args.lmht_level,
        lmht_time_steps=args.lmht_time_steps,
        lmht_epochs=args.lmht_epochs,
        lmht_lr=args.lmht_lr,
        max_eval_samples=args.max_eval_samples,
        seed=args.seed,
        device=args.device,
        out_dir=None if args.out_dir is None else str(args.out_dir),
    )
    results = run_experiment(config)
    print(f"QCFS ANN accuracy: {100 * results['ann_accuracy']:.2f} %")
    for method, record in results["methods"].items():
        accuracy = " ".join(f"{100 * a:.1f}" for a in record["accuracy_per_step"])
        print(f"{method:>6}: {accuracy}")
    if config.out_dir:
        print(
            f"results: {config.out_dir}/results.json, plot: {config.out_dir}/accuracy_vs_time_steps.png"
        )
    return 0
