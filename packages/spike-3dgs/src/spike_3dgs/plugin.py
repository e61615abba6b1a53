"""snn-core plugin module (entry point ``spike-3dgs``): adds the ``snn spike`` command."""

from __future__ import annotations

import argparse

from snn_core.hookspecs import hookimpl
from spike_3dgs.cli import add_spike_command


@hookimpl
def snn_add_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``snn spike info|view|reconstruct|simulate``."""
    add_spike_command(subparsers)
