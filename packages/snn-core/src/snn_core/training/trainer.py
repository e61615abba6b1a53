"""Surrogate-gradient BPTT training of spiking classifiers, on one process or under ``torchrun``."""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler
from tqdm.auto import tqdm

from snn_core.checkpoint import load_checkpoint, save_checkpoint
from snn_core.datasets.base import DatasetSplits
from snn_core.training.config import TrainConfig
from snn_core.training.results import environment_record, write_results

__all__ = ["LossFunction", "Trainer", "evaluate", "resolve_device"]

logger = logging.getLogger(__name__)

LossFunction = Callable[[nn.Module, Tensor, Tensor], tuple[Tensor, Tensor]]
"""``loss_fn(model, images [B, ...], labels [B]) -> (scalar loss, logits [B, K])``."""

CHECKPOINT_NAME = "checkpoint"

# Settings that must match for a resumed run to continue the same schedule.
_RESUME_SETTINGS = (
    "epochs",
    "batch_size",
    "lr",
    "optimizer",
    "momentum",
    "weight_decay",
    "scheduler",
    "seed",
)


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """Return the device for ``name``: "auto" is CUDA when available, else CPU.

    Raises:
        ValueError: If ``name`` is not a device, or CUDA is requested but not available.
    """
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"invalid device {name!r}; use auto, cpu, cuda or cuda:N") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available; use --device cpu")
    return device


def cross_entropy_on_mean_logits(
    model: nn.Module, images: Tensor, labels: Tensor
) -> tuple[Tensor, Tensor]:
    """Return cross-entropy of the logits averaged over time, and those logits ``[B, K]``."""
    logits = model(images).mean(0)
    return nn.functional.cross_entropy(logits, labels), logits


@torch.no_grad()
def evaluate(
    model: nn.Module,
    dataset: Dataset[tuple[Tensor, Tensor]],
    batch_size: int = 256,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Measure accuracy of a model returning ``[T, B, K]`` logits, after every time step.

    The prediction after ``t`` steps is the argmax of the cumulative logits of steps 1..t.

    Returns:
        ``{"accuracy": float, "loss": float, "accuracy_per_step": [acc after t=1, ..., t=T],
        "samples": int}``; accuracy is a fraction in [0, 1].
    """
    device = resolve_device(device)
    was_training = model.training
    model.eval()
    correct_per_step: Tensor | None = None
    loss_sum, count = 0.0, 0
    for images, labels in DataLoader(dataset, batch_size=batch_size):
        images, labels = images.to(device), labels.to(device)
        logits = model(images)
        if logits.dim() != 3:
            raise ValueError(f"model must return logits [T, B, K], got shape {tuple(logits.shape)}")
        cumulative = logits.cumsum(0)
        hits = (cumulative.argmax(-1) == labels.unsqueeze(0)).sum(1).cpu()
        correct_per_step = hits if correct_per_step is None else correct_per_step + hits
        loss_sum += float(nn.functional.cross_entropy(logits.mean(0), labels, reduction="sum"))
        count += labels.shape[0]
    model.train(was_training)
    if correct_per_step is None:
        raise ValueError("cannot evaluate on an empty dataset")
    per_step = (correct_per_step.double() / count).tolist()
    return {
        "accuracy": per_step[-1],
        "loss": loss_sum / count,
        "accuracy_per_step": per_step,
        "samples": count,
    }


class Trainer:
    """Train a spiking classifier with surrogate-gradient back-propagation through time.

    Under ``torchrun`` (``WORLD_SIZE > 1``) the model is wrapped in DistributedDataParallel with the
    gloo backend on CPU and NCCL on CUDA; only the first process writes files.

    Args:
        model: Maps images ``[B, C, H, W]`` to logits ``[T, B, K]``.
        splits: The train and test datasets.
        config: Training settings.
        loss_fn: ``loss_fn(model, images, labels) -> (loss, logits [B, K])``; cross-entropy on the
            time-averaged logits by default. Regularised training passes its own.
        model_spec: JSON-able description of the model (name and settings). It is stored in the
            checkpoint, and resuming with a different one is rejected.
    """

    def __init__(
        self,
        model: nn.Module,
        splits: DatasetSplits,
        config: TrainConfig,
        loss_fn: LossFunction | None = None,
        model_spec: dict[str, Any] | None = None,
    ) -> None:
        self.config = config
        self.model_spec = model_spec
        self.splits = splits
        self.loss_fn = loss_fn or cross_entropy_on_mean_logits
        self.distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
        self.device = resolve_device(config.device)
        if self.distributed:
            self._init_distributed()
        self.rank = dist.get_rank() if self.distributed else 0
        self.model = model.to(self.device)
        self.out_dir = Path(config.out_dir) if config.out_dir else None
        self.history: list[dict[str, Any]] = []
        self.start_epoch = 1

        self.optimizer = self._build_optimizer()
        self.scheduler = (
            torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=config.epochs)
            if config.scheduler == "cosine"
            else None
        )

    @property
    def is_main_process(self) -> bool:
        """Whether this process writes files and shows progress."""
        return self.rank == 0

    def _init_distributed(self) -> None:
        if not dist.is_initialized():
            backend = "nccl" if self.device.type == "cuda" else "gloo"
            dist.init_process_group(backend=backend)
            logger.info(
                "joined process group: rank %d of %d (%s)",
                dist.get_rank(),
                dist.get_world_size(),
                backend,
            )
        if self.device.type == "cuda":
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))

    def _build_optimizer(self) -> torch.optim.Optimizer:
        parameters = [parameter for parameter in self.model.parameters() if parameter.requires_grad]
        if self.config.optimizer == "sgd":
            return torch.optim.SGD(
                parameters,
                lr=self.config.lr,
                momentum=self.config.momentum,
                nesterov=self.config.momentum > 0,
                weight_decay=self.config.weight_decay,
            )
        return torch.optim.Adam(
            parameters, lr=self.config.lr, weight_decay=self.config.weight_decay
        )

    # ----------------------------------------------------------------------------------------------
    # Checkpoints.

    def checkpoint_path(self) -> Path | None:
        """Return the checkpoint path (without suffix) in ``out_dir``, or None when nothing is written."""
        return None if self.out_dir is None else self.out_dir / CHECKPOINT_NAME

    def save(self, epoch: int) -> None:
        """Write model, optimizer, scheduler and RNG state after ``epoch`` (first process only)."""
        path = self.checkpoint_path()
        if path is None or not self.is_main_process:
            return
        tensors = {f"model.{key}": value for key, value in self.model.state_dict().items()}
        optimizer_state = self.optimizer.state_dict()
        for index, state in optimizer_state["state"].items():
            for key, value in state.items():
                tensors[f"optimizer.{index}.{key}"] = torch.as_tensor(value)
        tensors["rng.torch"] = torch.get_rng_state()
        metadata = {
            "epoch": epoch,
            "train_config": self.config.to_dict(),
            "optimizer_param_groups": optimizer_state["param_groups"],
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "history": self.history,
            "dataset": self.splits.info.to_dict(),
            "model_spec": self.model_spec,
        }
        save_checkpoint(path, tensors, metadata)
        logger.info("saved checkpoint after epoch %d to %s", epoch, path)

    def has_checkpoint(self) -> bool:
        """Return whether ``out_dir`` contains a checkpoint."""
        path = self.checkpoint_path()
        return path is not None and (path.parent / f"{path.name}.json").is_file()

    def _check_resumable(self, path: Path, metadata: dict[str, Any]) -> None:
        saved = metadata.get("train_config", {})
        current = self.config.to_dict()
        differences = [
            f"{key} {saved.get(key)!r} -> {current[key]!r}"
            for key in _RESUME_SETTINGS
            if key in saved and saved[key] != current[key]
        ]
        if differences:
            raise ValueError(
                f"checkpoint {path} was trained with other settings ({'; '.join(differences)}); resume "
                "continues the same schedule, so rerun with the checkpoint's settings or use a new --out-dir"
            )
        if metadata.get("dataset", {}).get("name") not in (None, self.splits.info.name):
            raise ValueError(
                f"checkpoint {path} was trained on {metadata['dataset']['name']!r}, not "
                f"{self.splits.info.name!r}; use the same --dataset or a new --out-dir"
            )
        saved_spec = metadata.get("model_spec")
        if saved_spec is not None and self.model_spec is not None and saved_spec != self.model_spec:
            raise ValueError(
                f"checkpoint {path} was saved from model {saved_spec}, not {self.model_spec}; use the same model "
                "settings or a new --out-dir"
            )

    def try_resume(self) -> bool:
        """Load the checkpoint in ``out_dir`` if it exists; return whether training resumes.

        Raises:
            ValueError: If the checkpoint was written with other training settings, another dataset or
                another model (different spec, or missing or extra weights), or is corrupt.
        """
        path = self.checkpoint_path()
        if path is None or not self.has_checkpoint():
            logger.warning(
                "no checkpoint in %s to resume from; training starts at epoch 1", self.out_dir
            )
            return False
        tensors, metadata = load_checkpoint(path, device=self.device)
        self._check_resumable(path, metadata)
        model_state = {
            key[len("model.") :]: value
            for key, value in tensors.items()
            if key.startswith("model.")
        }
        try:
            self.model.load_state_dict(model_state)
        except RuntimeError as error:
            raise ValueError(
                f"checkpoint {path} does not fit this model ({error}); use another --out-dir or the "
                "model settings the checkpoint was trained with"
            ) from error

        state: dict[int, dict[str, Tensor]] = {}
        for key, value in tensors.items():
            if key.startswith("optimizer."):
                _, index, name = key.split(".", 2)
                state.setdefault(int(index), {})[name] = value
        self.optimizer.load_state_dict(
            {"state": state, "param_groups": metadata["optimizer_param_groups"]}
        )
        if self.scheduler is not None and metadata.get("scheduler"):
            self.scheduler.load_state_dict(metadata["scheduler"])
        torch.set_rng_state(tensors["rng.torch"].cpu())
        self.history = list(metadata.get("history", []))
        self.start_epoch = int(metadata["epoch"]) + 1
        logger.info("resuming from %s after epoch %d", path, metadata["epoch"])
        return True

    # ----------------------------------------------------------------------------------------------
    # Training.

    def _loader(self, epoch: int) -> DataLoader[tuple[Tensor, Tensor]]:
        if self.distributed:
            sampler: Any = DistributedSampler(
                self.splits.train, shuffle=True, seed=self.config.seed
            )
            sampler.set_epoch(epoch)
        else:
            generator = torch.Generator().manual_seed(self.config.seed * 1000 + epoch)
            sampler = RandomSampler(self.splits.train, generator=generator)
        return DataLoader(
            self.splits.train,
            batch_size=self.config.batch_size,
            sampler=sampler,
            num_workers=self.config.num_workers,
        )

    def train_epoch(self, epoch: int, model: nn.Module) -> dict[str, float]:
        """Run one pass over the training split; return mean loss and accuracy.

        Raises:
            FloatingPointError: If the loss becomes NaN or infinite; the last checkpoint is kept.
        """
        model.train()
        loss_sum, correct, count = 0.0, 0, 0
        show = self.config.progress and self.is_main_process and sys.stderr.isatty()
        batches = tqdm(
            self._loader(epoch),
            desc=f"epoch {epoch}/{self.config.epochs}",
            disable=not show,
            leave=False,
        )
        for step, (images, labels) in enumerate(batches):
            images, labels = images.to(self.device), labels.to(self.device)
            loss, logits = self.loss_fn(model, images, labels)
            if not math.isfinite(float(loss.detach())):
                raise FloatingPointError(
                    f"loss is {float(loss.detach())} at epoch {epoch}, step {step}; lower the learning rate "
                    f"(now {self.config.lr}) or set max_grad_norm. The checkpoint of the last finished "
                    "epoch is unchanged"
                )
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.config.max_grad_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), self.config.max_grad_norm)
            self.optimizer.step()

            loss_sum += float(loss.detach()) * labels.shape[0]
            correct += int((logits.argmax(-1) == labels).sum())
            count += labels.shape[0]
            batches.set_postfix(loss=f"{loss_sum / count:.4f}")
        return {"train_loss": loss_sum / count, "train_accuracy": correct / count}

    def fit(self) -> dict[str, Any]:
        """Train for ``config.epochs`` epochs, evaluating and checkpointing after each.

        Returns:
            The results: final test accuracy (fraction), per-step accuracy, history, timings,
            settings and environment. The first process also writes them to ``out_dir/results.json``.

        Raises:
            FileExistsError: If ``out_dir`` contains a checkpoint and ``config.resume`` is False, so an
                earlier run is never overwritten.
            FloatingPointError: If the loss becomes NaN or infinite.
        """
        from snn_core.plugins import get_plugin_manager

        torch.manual_seed(self.config.seed)
        if self.config.resume:
            self.try_resume()
        elif self.has_checkpoint():
            raise FileExistsError(
                f"{self.out_dir} already contains a training run; pass --resume to continue it or choose "
                "another --out-dir"
            )
        model: nn.Module = self.model
        if self.distributed:
            model = DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        hooks = get_plugin_manager().hook

        started = time.perf_counter()
        test_metrics: dict[str, Any] = {}
        for epoch in range(self.start_epoch, self.config.epochs + 1):
            epoch_started = time.perf_counter()
            metrics: dict[str, Any] = self.train_epoch(epoch, model)
            test_metrics = evaluate(self.model, self.splits.test, device=self.device)
            metrics.update(
                epoch=epoch,
                test_accuracy=test_metrics["accuracy"],
                test_loss=test_metrics["loss"],
                lr=self.optimizer.param_groups[0]["lr"],
                seconds=time.perf_counter() - epoch_started,
            )
            if self.scheduler is not None:
                self.scheduler.step()
            self.history.append(metrics)
            logger.info(
                "epoch %d: train loss %.4f, train accuracy %.4f, test accuracy %.4f",
                epoch,
                metrics["train_loss"],
                metrics["train_accuracy"],
                metrics["test_accuracy"],
            )
            hooks.snn_train_epoch_end(trainer=self, epoch=epoch, metrics=metrics)
            self.save(epoch)

        if not test_metrics:
            test_metrics = evaluate(self.model, self.splits.test, device=self.device)
        results = {
            "test_accuracy": test_metrics["accuracy"],
            "test_accuracy_per_step": test_metrics["accuracy_per_step"],
            "history": self.history,
            "train_seconds": time.perf_counter() - started,
            "world_size": dist.get_world_size() if self.distributed else 1,
            "train_config": self.config.to_dict(),
            "dataset": self.splits.info.to_dict(),
            **environment_record(self.device, self.config.seed),
        }
        if self.out_dir is not None and self.is_main_process:
            write_results(self.out_dir / "results.json", results)
        return results
