"""The snn-core plugin of snn-convert: hook specs, the QCFS layer conversion, models and the CLI."""

from __future__ import annotations

import argparse

import pluggy
from torch import nn

import snn_convert.lmht  # registers the LM-HT neurons
import snn_convert.models  # noqa: F401  (registers the classifiers)
from snn_convert import hookspecs
from snn_convert.convert import ConversionConfig, convert_default_layer, has_convert_layer_spec
from snn_core.hookspecs import hookimpl


@hookimpl
def snn_add_hookspecs(plugin_manager: pluggy.PluginManager) -> None:
    """Add the ``snn_convert_layer`` hook."""
    if not has_convert_layer_spec(plugin_manager):
        plugin_manager.add_hookspecs(hookspecs)


@hookimpl
def snn_add_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``snn convert`` command."""
    from snn_convert.cli import add_convert_command

    add_convert_command(subparsers)


@hookimpl(trylast=True)
def snn_convert_layer(module: nn.Module, name: str, config: ConversionConfig) -> nn.Module | None:
    """Convert a QCFS activation to a soft-reset IF layer; leave other layers to other plugins."""
    return convert_default_layer(module)
