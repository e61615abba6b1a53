from __future__ import annotations

from pathlib import Path

import pytest
import torch

from snn_core.checkpoint import load_checkpoint, save_checkpoint


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    tensors = {"weight": torch.randn(3, 4), "view": torch.arange(10).view(2, 5).t()}
    stem = save_checkpoint(tmp_path / "ckpt", tensors, {"epoch": 3, "name": "x"})
    loaded, metadata = load_checkpoint(stem)
    assert metadata == {"epoch": 3, "name": "x"}
    assert torch.equal(loaded["weight"], tensors["weight"])
    assert torch.equal(loaded["view"], tensors["view"])
    assert sorted(path.name for path in tmp_path.iterdir()) == ["ckpt.json", "ckpt.safetensors"]


def test_checkpoint_rejects_non_json_metadata_before_writing(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        save_checkpoint(tmp_path / "ckpt", {"a": torch.zeros(1)}, {"bad": object()})
    assert list(tmp_path.iterdir()) == []


def test_missing_checkpoint_names_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"ckpt\.safetensors"):
        load_checkpoint(tmp_path / "ckpt")


def test_checkpoint_stem_with_dots_keeps_names_apart(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "epoch.10", {"a": torch.zeros(1)}, {"epoch": 10})
    save_checkpoint(tmp_path / "epoch.20", {"a": torch.ones(1)}, {"epoch": 20})
    _, metadata = load_checkpoint(tmp_path / "epoch.10")
    assert metadata == {"epoch": 10}
    assert (tmp_path / "epoch.10.safetensors").is_file()


def test_corrupt_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "ckpt", {"a": torch.zeros(1)}, {"epoch": 1})
    (tmp_path / "ckpt.safetensors").write_bytes(b"\x00\x01")
    with pytest.raises(ValueError, match="unreadable"):
        load_checkpoint(tmp_path / "ckpt")


def test_results_file_turns_nan_into_null(tmp_path: Path) -> None:
    import json

    from snn_core.training import write_results

    path = write_results(
        tmp_path / "results.json", {"loss": float("nan"), "history": [1.0, float("inf")]}
    )
    assert json.loads(path.read_text()) == {"loss": None, "history": [1.0, None]}
