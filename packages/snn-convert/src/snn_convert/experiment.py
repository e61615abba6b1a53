"""The conversion experiment behind ``snn convert``: train or load a QCFS ANN, convert, compare."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from snn_convert.convert import ConversionConfig, convert_to_snn
from snn_convert.evaluate import evaluate_ann, evaluate_per_step, offset_spike_histograms
from snn_convert.lmht_network import (
    compare_reparameterized,
    hybrid_lmht_network,
    reparameterize_lmht,
)
from snn_convert.models import build_ann
from snn_convert.prepare import prepare_qcfs_model
from snn_convert.training import train_classifier, train_qcfs
from snn_core.checkpoint import load_checkpoint, save_checkpoint
from snn_core.datasets import DatasetSplits, load_dataset
from snn_core.training import TrainConfig, environment_record, resolve_device

__all__ = ["ExperimentConfig", "Method", "load_qcfs_ann", "plot_accuracy", "run_experiment"]

logger = logging.getLogger(__name__)

Method = Literal["plain", "cos", "srp", "lmht"]


@dataclass
class ExperimentConfig:
    """Settings of one conversion experiment (JSON round-trip with :meth:`to_dict`/:meth:`from_dict`).

    Attributes:
        dataset: Registered dataset name ("digits", "mnist", "cifar10", ...).
        data_dir: Folder of the dataset files; None for the embedded digits.
        holdout_fraction: For IDX datasets with only the t10k files: the fraction held out for test.
        arch: ANN architecture (``vgg-small``, ``resnet-small``, ``vgg16``, ``resnet18/20/34``).
        level: QCFS quantisation level ``L``.
        epochs, batch_size, lr, optimizer, weight_decay: QCFS training settings.
        ann_checkpoint: Load this QCFS ANN (``path`` of ``path.safetensors`` + ``path.json``)
            instead of training one.
        methods: Conversion methods to evaluate.
        time_steps: Reported steps ``T`` of the IF networks.
        presim_steps: COS ``rho`` and SRP ``tau``; None uses ``level``.
        cos_rounds: COS calibration rounds.
        lmht_level, lmht_time_steps: ``L`` and ``T`` of the hybrid LM-HT network.
        lmht_epochs, lmht_lr: LM-HT fine-tuning settings (SGD, cosine schedule).
        eval_batch_size: Batch size of evaluation.
        max_eval_samples: Evaluate on the first this many test samples; None for all.
        diagnostic_samples: Test samples for the offset-spike histograms.
        seed: Random seed.
        device: Torch device name or "auto".
        out_dir: Folder for results, checkpoint and plot; None writes nothing.
    """

    dataset: str = "digits"
    data_dir: str | None = None
    holdout_fraction: float | None = None
    arch: str = "vgg-small"
    level: int = 4
    epochs: int = 20
    batch_size: int = 64
    lr: float = 0.02
    optimizer: Literal["sgd", "adam"] = "sgd"
    weight_decay: float = 5e-4
    ann_checkpoint: str | None = None
    methods: list[str] = field(default_factory=lambda: ["plain", "cos", "srp", "lmht"])
    time_steps: int = 8
    presim_steps: int | None = None
    cos_rounds: int = 1
    lmht_level: int = 2
    lmht_time_steps: int = 2
    lmht_epochs: int = 3
    lmht_lr: float = 0.005
    eval_batch_size: int = 256
    max_eval_samples: int | None = None
    diagnostic_samples: int = 256
    seed: int = 0
    device: str = "auto"
    out_dir: str | None = None

    def __post_init__(self) -> None:
        unknown = sorted(set(self.methods) - {"plain", "cos", "srp", "lmht"})
        if unknown:
            raise ValueError(f"unknown methods {unknown}; use plain, cos, srp, lmht")
        if self.time_steps < 1:
            raise ValueError(f"time_steps must be >= 1, got {self.time_steps}")
        if self.max_eval_samples is not None and self.max_eval_samples < 1:
            raise ValueError(
                f"max_eval_samples must be >= 1, got {self.max_eval_samples}; "
                "leave it unset to evaluate the whole test split"
            )

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as a JSON-able dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExperimentConfig:
        """Build settings from :meth:`to_dict` output."""
        return cls(**data)


def _load_splits(config: ExperimentConfig) -> DatasetSplits:
    options: dict[str, Any] = {}
    if config.holdout_fraction is not None:
        options["holdout_fraction"] = config.holdout_fraction
        options["seed"] = config.seed
    return load_dataset(config.dataset, data_dir=config.data_dir, **options)


def _build_qcfs_ann(config: ExperimentConfig, splits: DatasetSplits, level: int) -> nn.Module:
    info = splits.info
    ann = build_ann(
        config.arch,
        in_channels=info.in_channels,
        num_classes=info.num_classes,
        image_size=info.image_size,
    )
    return prepare_qcfs_model(ann, level=level)


def save_qcfs_ann(path: str | Path, ann: nn.Module, metadata: dict[str, Any]) -> None:
    """Save a QCFS ANN as ``path.safetensors`` + ``path.json`` (settings to rebuild it)."""
    tensors = {name: value.detach().cpu().contiguous() for name, value in ann.state_dict().items()}
    save_checkpoint(path, tensors, metadata)


def load_qcfs_ann(path: str | Path, splits: DatasetSplits) -> tuple[nn.Module, dict[str, Any]]:
    """Load a QCFS ANN saved by :func:`save_qcfs_ann`.

    Raises:
        ValueError: If the checkpoint's dataset shape does not match ``splits``.
    """
    tensors, metadata = load_checkpoint(path)
    info = splits.info
    expected = {
        "in_channels": info.in_channels,
        "num_classes": info.num_classes,
        "image_size": info.image_size,
    }
    saved = {key: metadata.get(key) for key in expected}
    if saved != expected:
        raise ValueError(
            f"checkpoint {path} was trained for {saved}, but the dataset has {expected}"
        )
    ann = build_ann(metadata["arch"], **expected)
    ann = prepare_qcfs_model(ann, level=int(metadata["level"]))
    ann.load_state_dict(tensors)
    return ann, metadata


def _test_loader(config: ExperimentConfig, splits: DatasetSplits, limit: int | None) -> DataLoader:
    test = splits.test
    if limit is not None and limit < len(test):
        test = Subset(test, range(limit))
    return DataLoader(test, batch_size=config.eval_batch_size, shuffle=False)


def _run_lmht(
    config: ExperimentConfig, ann: nn.Module, splits: DatasetSplits, device: torch.device
) -> dict[str, Any]:
    level, steps = config.lmht_level, config.lmht_time_steps
    network = hybrid_lmht_network(ann, level=level, time_steps=steps)
    loader = _test_loader(config, splits, config.max_eval_samples)
    before = evaluate_per_step(network, loader, device=device)["accuracy_per_step"]
    started = time.perf_counter()
    train_config = TrainConfig(
        epochs=config.lmht_epochs,
        batch_size=config.batch_size,
        lr=config.lmht_lr,
        optimizer="sgd",
        weight_decay=5e-4,
        seed=config.seed,
        device=str(device),
        progress=False,
    )
    if config.lmht_epochs > 0:
        train_classifier(network, splits, train_config)
    seconds = time.perf_counter() - started
    after = evaluate_per_step(network, loader, device=device)["accuracy_per_step"]

    reparameterized = reparameterize_lmht(network.eval())
    reparam_accuracy = evaluate_per_step(reparameterized, loader, device=device)[
        "accuracy_per_step"
    ]
    # Per-step logits of the two forms, in float32 as trained and in float64. In float32 one
    # potential within rounding error of a threshold can move a spike, so the logits can differ
    # by more than 1 while every prediction agrees. Float64 removes almost all such ties.
    single = compare_reparameterized(network, loader, dtype=torch.float32, device=device)
    double = compare_reparameterized(network, loader, dtype=torch.float64, device=device)
    return {
        "level": level,
        "time_steps": steps,
        "accuracy_per_step_before_finetune": before,
        "accuracy_per_step": after,
        "finetune_epochs": config.lmht_epochs,
        "finetune_seconds": seconds,
        "reparameterized_accuracy_per_sub_step": reparam_accuracy,
        "reparameterized_max_logit_difference": single["max_logit_difference"],
        "reparameterized_prediction_agreement": single["prediction_agreement"],
        "reparameterized_max_logit_difference_float64": double["max_logit_difference"],
        "reparameterized_prediction_agreement_float64": double["prediction_agreement"],
    }


def run_experiment(config: ExperimentConfig) -> dict[str, Any]:
    """Train (or load) a QCFS ANN, convert it with each method and measure accuracy per time step.

    Returns:
        The results dict: ANN accuracy, per method the accuracy after every step ``t = 1..T``
        (fractions) with its pre-simulation steps, the offset-spike histograms, LM-HT results,
        timings, settings and environment. With ``out_dir`` set it is also written to
        ``results.json`` with the plot ``accuracy_vs_time_steps.png`` and the ANN checkpoint.
    """
    torch.manual_seed(config.seed)
    device = resolve_device(config.device)
    out_dir = Path(config.out_dir) if config.out_dir else None
    started = time.perf_counter()
    splits = _load_splits(config)
    logger.info("dataset %s: %s", splits.info.name, splits.info.split_note)

    if config.ann_checkpoint:
        ann, metadata = load_qcfs_ann(config.ann_checkpoint, splits)
        level = int(metadata["level"])
        if level != config.level:
            logger.warning(
                "the checkpoint %s was trained with QCFS level L = %d; using it instead of the "
                "requested level %d (the level is part of the trained network)",
                config.ann_checkpoint,
                level,
                config.level,
            )
        train_results: dict[str, Any] = {"loaded_from": config.ann_checkpoint}
    else:
        level = config.level
        ann = _build_qcfs_ann(config, splits, level)
        train_config = TrainConfig(
            epochs=config.epochs,
            batch_size=config.batch_size,
            lr=config.lr,
            optimizer=config.optimizer,
            weight_decay=config.weight_decay,
            seed=config.seed,
            device=str(device),
            progress=False,
        )
        train_results = train_qcfs(ann, splits, train_config)
        if out_dir is not None:
            info = splits.info
            save_qcfs_ann(out_dir / "ann", ann, {
                "arch": config.arch, "level": level, "in_channels": info.in_channels,
                "num_classes": info.num_classes, "image_size": info.image_size,
                "dataset": info.name,
            })  # fmt: skip
    ann = ann.to(device).eval()
    loader = _test_loader(config, splits, config.max_eval_samples)
    ann_accuracy = evaluate_ann(ann, loader, device=device)
    logger.info("QCFS ANN accuracy %.4f", ann_accuracy)

    presim = config.presim_steps if config.presim_steps is not None else level
    results: dict[str, Any] = {
        "ann_accuracy": ann_accuracy,
        "qcfs_level": level,
        "dataset": splits.info.to_dict(),
        "train": {key: value for key, value in train_results.items() if key != "history"},
        "methods": {},
    }
    snn = convert_to_snn(ann, ConversionConfig(time_steps=config.time_steps))
    for method in ("plain", "cos", "srp"):
        if method not in config.methods:
            continue
        snn.configure(method, 0 if method == "plain" else presim, config.cos_rounds)
        evaluation = evaluate_per_step(snn, loader, device=device)
        results["methods"][method] = {
            "presim_steps": evaluation["latency_offset"],
            "accuracy_per_step": evaluation["accuracy_per_step"],
        }
        logger.info("%s: %s", method, [round(a, 4) for a in evaluation["accuracy_per_step"]])
    if "cos" in config.methods:
        diagnostic_loader = _test_loader(config, splits, config.diagnostic_samples)
        results["offset_spike_histograms"] = offset_spike_histograms(
            snn, diagnostic_loader, presim_steps=presim, device=device
        )
    if "lmht" in config.methods:
        results["methods"]["lmht"] = _run_lmht(config, ann, splits, device)

    results.update(
        config=config.to_dict(),
        seconds=time.perf_counter() - started,
        **environment_record(device, config.seed),
    )
    if out_dir is not None:
        from snn_core.training import write_results

        write_results(out_dir / "results.json", results)
        plot_accuracy(results, out_dir / "accuracy_vs_time_steps.png")
    return results


def plot_accuracy(results: dict[str, Any], path: str | Path) -> Path:
    """Plot accuracy (%) against time steps, one line per method and the ANN as a reference line.

    COS and SRP are drawn at their reported step ``t`` (their latency is ``rho + t``, given in the
    legend). LM-HT with ``L`` levels is drawn at ``L * t``, the IF steps it stands for.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    labels = {"plain": "plain QCFS conversion", "cos": "COS", "srp": "SRP"}
    for method, record in results["methods"].items():
        accuracy = [100 * a for a in record["accuracy_per_step"]]
        if method == "lmht":
            level = record["level"]
            steps = [level * (t + 1) for t in range(len(accuracy))]
            axes.plot(steps, accuracy, marker="s", label=f"LM-HT (L={level}), x = L*t")
            sub = [100 * a for a in record["reparameterized_accuracy_per_sub_step"]]
            axes.plot(range(1, len(sub) + 1), sub, linestyle=":", label="LM-HT reparameterised IF")
            continue
        label = labels[method]
        if record["presim_steps"]:
            label += f" (+{record['presim_steps']} pre-steps)"
        axes.plot(range(1, len(accuracy) + 1), accuracy, marker="o", label=label)
    axes.axhline(100 * results["ann_accuracy"], color="black", linestyle="--", label="QCFS ANN")
    axes.set_xlabel("time steps t (after pre-simulation)")
    axes.set_ylabel("test accuracy (%)")
    axes.set_title(f"{results['dataset']['name']}: accuracy vs time steps")
    axes.legend(fontsize=7)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
