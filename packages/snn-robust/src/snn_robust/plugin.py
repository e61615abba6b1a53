"""The snn-core plugin module of snn-robust: adds the ``snn robust`` command."""

from __future__ import annotations

import argparse

from snn_core import hookimpl
from snn_robust.cli import add_robust_commands

__all__ = ["snn_add_commands"]


@hookimpl
def snn_add_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``snn robust train`` and ``snn robust eval``."""
    add_robust_commands(subparsers)
