"""Results files: JSON with the settings, versions, device and seed that produced them."""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

from snn_core.checkpoint import atomic_write_text

__all__ = ["environment_record", "write_results"]


def _installed_versions() -> dict[str, str]:
    versions = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
    }
    for distribution in metadata.distributions():
        name = distribution.metadata["Name"]
        if name and (name.startswith("snn-") or name in ("spike-3dgs", "urban-diff")):
            versions[name] = distribution.version
    return versions


def environment_record(device: torch.device | str, seed: int) -> dict[str, Any]:
    """Return the seed, device, package versions, machine and UTC time of a run."""
    device = torch.device(device)
    record: dict[str, Any] = {
        "seed": seed,
        "device": str(device),
        "versions": _installed_versions(),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.machine(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
        },
        "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    if device.type == "cuda":
        record["machine"]["gpu"] = torch.cuda.get_device_name(device)
    return record


def _to_json(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _finite_or_none(value: Any) -> Any:
    # JSON has no NaN or infinity; a diverged loss is written as null instead of invalid JSON.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(item) for item in value]
    return value


def write_results(path: str | Path, results: dict[str, Any]) -> Path:
    """Write ``results`` as indented JSON to ``path`` atomically.

    Tensors and arrays become lists; NaN and infinite floats become null, so the file stays valid JSON.
    """
    path = Path(path)
    text = json.dumps(_finite_or_none(results), indent=2, default=_to_json, allow_nan=False)
    atomic_write_text(path, text + "\n")
    return path
