"""Hook specifications of snn-core. Plugins implement them with ``@snn_core.hookimpl``.

Every hook name starts with ``snn_``. Plugins are modules (or objects) named by an entry point in the
group ``snn_core``. Importing the module registers its neurons, encoders, models and datasets, and
the plugin manager then registers its hook implementations.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from snn_core.training import Trainer

PROJECT_NAME = "snn_core"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# --------------------------------------------------------------------------------------------------
# Set-up: called while plugins load.


@hookspec(historic=True)
def snn_add_hookspecs(plugin_manager: pluggy.PluginManager) -> None:
    """Add a plugin's own hook specifications.

    Historic: a plugin registered later still receives the call. Implement it to call
    ``plugin_manager.add_hookspecs(module)`` with a module of ``@snn_core.hookspec`` functions whose
    names start with ``snn_``. Other plugins can then implement those hooks.

    :param plugin_manager: The snn-core plugin manager.
    """


# --------------------------------------------------------------------------------------------------
# Command line: called when the ``snn`` command builds its parser.


@hookspec
def snn_add_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add subcommands to the ``snn`` command.

    Call ``subparsers.add_parser(name, help=...)`` and then ``parser.set_defaults(handler=run)``,
    where ``run(args: argparse.Namespace) -> int`` returns the exit status. Any plugin may implement
    it; every implementation is called.

    :param subparsers: The ``snn`` command's subparser collection.
    """


# --------------------------------------------------------------------------------------------------
# Training: called by :class:`snn_core.training.Trainer`.


@hookspec
def snn_train_epoch_end(trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> None:
    """Observe the metrics after every training epoch (for logging to an experiment tracker).

    Called on every process of a distributed run. Any plugin may implement it; every implementation
    is called, and its return value is ignored.

    :param trainer: The trainer that ran the epoch.
    :param epoch: The epoch that ended, counted from 1.
    :param metrics: ``{"train_loss": ..., "train_accuracy": ..., "test_accuracy": ...}``.
    """
