"""The ``snn robust`` subcommands: ``train`` (vanilla, regularized, adversarial) and ``eval``."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

import torch

from snn_core.cli import (
    add_common_arguments,
    add_model_arguments,
    add_optimizer_arguments,
    resolve_device,
    write_results,
)
from snn_core.datasets import load_dataset
from snn_core.datasets.base import DatasetSplits
from snn_core.training import TrainConfig
from snn_core.training.results import environment_record
from snn_robust.attacks import _check_eps
from snn_robust.estimators import resolve_estimators
from snn_robust.evaluation import gradient_norms, make_loader, robustness_table
from snn_robust.plotting import format_table, plot_accuracy_vs_eps
from snn_robust.training import ModelSpec, RobustTrainConfig, load_model, save_model, train_robust

__all__ = ["add_robust_commands"]

logger = logging.getLogger(__name__)

MODEL_FILE = "model"


def pixel_eps(text: str) -> float:
    """Parse an attack size in [0, 1] pixel units (an argparse ``type``)."""
    try:
        value = float(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from error
    try:
        return _check_eps(value)  # the attacks' own range check, so both give one message
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def _add_dataset_arguments(parser: argparse.ArgumentParser, default: str | None) -> None:
    parser.add_argument(
        "--dataset",
        default=default,
        help="registered dataset name (snn list datasets)"
        + ("" if default else "; default: the one the checkpoint was trained on"),
    )
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="folder with the dataset's files"
    )
    parser.add_argument(
        "--holdout-fraction",
        type=float,
        default=None,
        help="train on the test files only, holding out this fraction of them for evaluation "
        "(MNIST-style sets without train files)",
    )


def _load_splits(
    name: str, data_dir: Path | str | None, holdout_fraction: float | None
) -> DatasetSplits:
    options: dict[str, Any] = {}
    if holdout_fraction is not None:
        options["holdout_fraction"] = holdout_fraction
    return load_dataset(name, data_dir=data_dir, **options)


# ------------------------------------------------------------------------------------------------
# snn robust train


def _prepare_process(seed: int) -> None:
    torch.manual_seed(seed)
    # Spiking gradients leave many subnormal floats, which make CPU arithmetic several times slower.
    torch.set_flush_denormal(True)


def _run_train(args: argparse.Namespace) -> int:
    _prepare_process(args.seed)
    splits = _load_splits(args.dataset, args.data_dir, args.holdout_fraction)
    info = splits.info
    neuron_kwargs = dict(args.neuron_kwargs)
    if args.surrogate:
        neuron_kwargs["surrogate"] = args.surrogate
    spec = ModelSpec(
        args.model,
        {
            "in_channels": info.in_channels,
            "num_classes": info.num_classes,
            "image_size": info.image_size,
            "time_steps": args.time_steps,
            "neuron": args.neuron,
            "neuron_kwargs": neuron_kwargs,
        },
    )
    model = spec.build()

    out_dir: Path = args.out_dir
    train_config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        optimizer=args.optimizer,
        weight_decay=args.weight_decay,
        seed=args.seed,
        device=args.device,
        out_dir=str(out_dir),
        progress=not args.quiet,
    )
    robust_config = RobustTrainConfig(
        lam=args.lam,
        h=args.h,
        adversarial=args.adversarial,
        adversarial_eps=args.adversarial_eps,
        adversarial_steps=args.adversarial_steps,
        adversarial_estimator=args.adversarial_estimator,
    )
    logger.info(
        "training %s (%s) on %s (%s)", args.model, robust_config.method, info.name, info.split_note
    )
    results = train_robust(model, splits, train_config, robust_config)

    dataset_record = {
        "name": args.dataset,
        "data_dir": None if args.data_dir is None else str(args.data_dir),
        "holdout_fraction": args.holdout_fraction,
    }
    results["model"] = spec.to_dict()
    results["dataset_options"] = dataset_record
    checkpoint = save_model(
        out_dir / MODEL_FILE,
        model,
        spec,
        {
            "method": robust_config.method,
            "robust_config": robust_config.to_dict(),
            "train_config": train_config.to_dict(),
            "dataset_options": dataset_record,
            "dataset": info.to_dict(),
            "test_accuracy": results["test_accuracy"],
        },
    )
    results["checkpoint"] = str(checkpoint)
    write_results(out_dir / "results.json", results)

    print(
        f"{robust_config.method}: clean test accuracy {results['test_accuracy']:.4f} after "
        f"{len(results['history'])} epochs ({results['train_seconds']:.1f} s); model in {checkpoint}"
    )
    return 0


def _add_train_command(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "train",
        help="train a spiking classifier: vanilla, gradient-sparsity regularized, or adversarial",
    )
    _add_dataset_arguments(parser, default="digits")
    add_model_arguments(parser, neuron="if", surrogate="triangle")
    add_optimizer_arguments(parser)
    parser.add_argument(
        "--lam",
        type=float,
        default=0.0,
        help="weight of the gradient-sparsity penalty mean(d^2); 0 trains vanilla",
    )
    parser.add_argument(
        "--h", type=float, default=0.01, help="finite-difference step of the penalty, pixel units"
    )
    parser.add_argument(
        "--adversarial",
        choices=("none", "fgsm", "pgd"),
        default="none",
        help="replace every training batch by FGSM or PGD examples",
    )
    parser.add_argument(
        "--adversarial-eps", type=pixel_eps, default=0.1, help="training attack size, pixel units"
    )
    parser.add_argument("--adversarial-steps", type=int, default=5, help="training PGD steps")
    parser.add_argument(
        "--adversarial-estimator", default="bptt", help="gradient estimator of the training attack"
    )
    add_common_arguments(parser, out_dir="runs/snn-robust/train")
    parser.set_defaults(handler=_run_train)


# ------------------------------------------------------------------------------------------------
# snn robust eval


def _label_for(path: Path, metadata: dict[str, Any], used: set[str]) -> str:
    label = str(metadata.get("method", path.stem))
    if label in used:
        label = f"{label} ({path.parent.name}/{path.name})"
    used.add(label)
    return label


def _check_dataset_fits(
    checkpoint: str | Path, trained_on: dict[str, Any], splits: DatasetSplits
) -> None:
    """Raise ValueError if the model was trained on images of another shape or class count."""
    keys = ("in_channels", "image_size", "num_classes")
    expected = {key: trained_on[key] for key in keys if key in trained_on}
    actual = {key: getattr(splits.info, key) for key in expected}
    if expected != actual:
        raise ValueError(
            f"checkpoint {checkpoint} was trained on {trained_on.get('name')!r} with {expected}, but "
            f"{splits.info.name!r} has {actual}; evaluate it on data of the same shape"
        )


def _run_eval(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)
    _prepare_process(args.seed)
    estimators = resolve_estimators(args.estimators)
    started = time.perf_counter()

    tables: dict[str, Any] = {}
    models: list[dict[str, Any]] = []
    used: set[str] = set()
    splits_cache: dict[tuple[Any, ...], DatasetSplits] = {}
    for checkpoint in args.checkpoint:
        model, metadata = load_model(checkpoint, device=device)
        stored = metadata.get("dataset_options", {})
        name = args.dataset or stored.get("name")
        if name is None:
            raise ValueError(f"checkpoint {checkpoint} records no dataset; pass --dataset")
        data_dir = args.data_dir if args.data_dir is not None else stored.get("data_dir")
        holdout = (
            args.holdout_fraction
            if args.holdout_fraction is not None
            else stored.get("holdout_fraction")
        )
        key = (name, str(data_dir), holdout)
        if key not in splits_cache:
            splits_cache[key] = _load_splits(name, data_dir, holdout)
        splits = splits_cache[key]
        _check_dataset_fits(checkpoint, metadata.get("dataset", {}), splits)
        loader = make_loader(splits.test, args.batch_size, args.max_samples)

        label = _label_for(Path(checkpoint), metadata, used)
        logger.info("evaluating %s from %s on %s", label, checkpoint, splits.info.name)
        rows = robustness_table(
            model,
            loader,
            epsilons=args.epsilons,
            pgd_steps=args.pgd_steps,
            pgd_step_size=args.pgd_step_size,
            estimators=estimators,
            device=device,
            seed=args.seed,
        )
        norms = gradient_norms(model, loader, estimator=estimators[0], device=device)
        tables[label] = rows
        models.append(
            {
                "label": label,
                "checkpoint": str(checkpoint),
                "method": metadata.get("method"),
                "robust_config": metadata.get("robust_config"),
                "dataset": splits.info.to_dict(),
                "rows": [row.to_dict() for row in rows],
                "gradient_norms": {"estimator": estimators[0].name, **norms},
            }
        )

    table = format_table(tables)
    print(table)
    results: dict[str, Any] = {
        "models": models,
        "table_markdown": table,
        "settings": {
            "epsilons": list(args.epsilons),
            "pgd_steps": args.pgd_steps,
            "pgd_step_size": args.pgd_step_size,
            "estimators": [estimator.to_dict() for estimator in estimators],
            "max_samples": args.max_samples,
        },
        "eval_seconds": time.perf_counter() - started,
        **environment_record(device, args.seed),
    }
    out_dir: Path = args.out_dir
    write_results(out_dir / "results.json", results)
    plot = plot_accuracy_vs_eps(tables, out_dir / "accuracy_vs_eps.png")
    logger.info("wrote %s and %s", out_dir / "results.json", plot)
    return 0


def _add_eval_command(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "eval",
        help="measure clean, uniform-noise, FGSM and PGD accuracy of trained models",
    )
    parser.add_argument(
        "--checkpoint",
        nargs="+",
        required=True,
        help="model checkpoints written by `snn robust train` (OUT_DIR/model), compared in one table",
    )
    _add_dataset_arguments(parser, default=None)
    parser.add_argument(
        "--epsilons",
        type=pixel_eps,
        nargs="+",
        default=[0.1, 0.3],
        help="L-infinity sizes, pixel units",
    )
    parser.add_argument("--pgd-steps", type=int, default=10, help="PGD steps")
    parser.add_argument(
        "--pgd-step-size", type=float, default=None, help="PGD step size; default 2.5 * eps / steps"
    )
    parser.add_argument(
        "--estimators",
        nargs="+",
        default=["ensemble"],
        help="gradient estimators whose worst case counts: 'ensemble' (bptt-triangle, "
        "bptt-sigmoid, bptt-arctan, bptr), or names such as bptt, bptr, bptt-rectangle",
    )
    parser.add_argument(
        "--max-samples", type=int, default=None, help="evaluate the first N test samples only"
    )
    parser.add_argument("--batch-size", type=int, default=256, help="samples per attack batch")
    add_common_arguments(parser, out_dir="runs/snn-robust/eval")
    parser.set_defaults(handler=_run_eval)


def add_robust_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``snn robust train`` and ``snn robust eval`` to the ``snn`` command's subparsers."""
    parser = subparsers.add_parser(
        "robust", help="adversarial attacks and gradient-sparsity regularized training"
    )
    commands = parser.add_subparsers(dest="robust_command", metavar="COMMAND", required=True)
    _add_train_command(commands)
    _add_eval_command(commands)
