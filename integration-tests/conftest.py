from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real test data: $SNN_SHARED_DATA, else <repo>/../shared/data."""
    path = Path(
        os.environ.get("SNN_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
    )
    if not path.is_dir():
        message = f"real test data not found at {path}; set SNN_SHARED_DATA to its folder"
        if os.environ.get("SNN_REQUIRE_SHARED_DATA") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path
