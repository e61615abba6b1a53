"""Shared fixtures: the real-data folder and offline settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Return the folder of real data files (env SNN_SHARED_DATA, else <repo>/../shared/data)."""
    env = os.environ.get("SNN_SHARED_DATA")
    repo_root = Path(__file__).resolve().parents[3]
    path = Path(env) if env else repo_root.parent / "shared" / "data"
    if not path.is_dir():
        reason = f"shared data folder not found: {path} (set SNN_SHARED_DATA)"
        if os.environ.get("SNN_REQUIRE_SHARED_DATA") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.fixture(autouse=True)
def _torch_extensions_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path_factory.getbasetemp() / "torch_ext"))
