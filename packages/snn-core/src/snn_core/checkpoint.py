"""Checkpoints as safetensors (tensors) plus JSON (everything else), written atomically.

A checkpoint at ``PATH`` is the pair ``PATH.safetensors`` and ``PATH.json``. Each file is written to
a temporary name in the same folder and renamed into place, so an interrupted run leaves either the
previous checkpoint or the new one, never a torn file. Nothing is ever unpickled on load.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

__all__ = ["atomic_write_text", "load_checkpoint", "save_checkpoint"]


def _readable_by_others(path: str) -> None:
    # mkstemp creates files with mode 0600; results and checkpoints get the usual umask instead.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        _readable_by_others(temporary)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _stem(path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    if path.suffix in (".safetensors", ".json"):
        path = path.with_suffix("")
    return path


def _with_extension(stem: Path, extension: str) -> Path:
    # Not with_suffix: a stem such as "model.v2" must keep its dot.
    return stem.parent / f"{stem.name}{extension}"


def save_checkpoint(
    path: str | os.PathLike[str], tensors: dict[str, Tensor], metadata: dict[str, Any]
) -> Path:
    """Write ``tensors`` to ``PATH.safetensors`` and ``metadata`` to ``PATH.json``, atomically.

    The JSON is written last, so a checkpoint whose JSON exists is complete.

    Args:
        path: The checkpoint path without suffix (a ``.safetensors`` or ``.json`` suffix is dropped).
        tensors: Named tensors; shared or non-contiguous tensors are copied.
        metadata: JSON-able settings, counters and results.

    Returns:
        The path without suffix.

    Raises:
        TypeError: If ``metadata`` is not JSON-able.
    """
    stem = _stem(path)
    stem.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(metadata, indent=2, sort_keys=True)  # fail before touching any file
    contiguous = {
        name: tensor.detach().cpu().contiguous().clone() for name, tensor in tensors.items()
    }

    weights = _with_extension(stem, ".safetensors")
    descriptor, temporary = tempfile.mkstemp(
        dir=stem.parent, prefix=f".{weights.name}.", suffix=".tmp"
    )
    os.close(descriptor)
    try:
        save_file(contiguous, temporary)
        _readable_by_others(temporary)
        os.replace(temporary, weights)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    atomic_write_text(_with_extension(stem, ".json"), text + "\n")
    return stem


def load_checkpoint(
    path: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Args:
        path: The checkpoint path, with or without a ``.safetensors`` or ``.json`` suffix.
        device: Where the tensors are loaded.

    Returns:
        The tensors (on ``device``) and the metadata.

    Raises:
        FileNotFoundError: If either file is missing; the message names it.
        ValueError: If either file is corrupt; the message names it.
    """
    stem = _stem(path)
    weights, settings = _with_extension(stem, ".safetensors"), _with_extension(stem, ".json")
    for required in (weights, settings):
        if not required.is_file():
            raise FileNotFoundError(
                f"checkpoint file {required} not found; a checkpoint is the pair "
                f"{weights.name} and {settings.name}"
            )
    try:
        metadata = json.loads(settings.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(
            f"checkpoint metadata {settings} is corrupt ({error}); delete the pair or restore it"
        ) from error
    try:
        tensors = load_file(str(weights), device=str(device))
    except Exception as error:  # safetensors raises its own SafetensorError for corrupt files
        raise ValueError(
            f"checkpoint tensors {weights} are unreadable ({error}); delete the pair or restore it"
        ) from error
    return tensors, metadata
