"""Entry-point module: the ``snn_convert_layer`` implementation for :class:`ClipReLU`."""

from __future__ import annotations

from typing import Any

from torch import nn

from snn_core.hookspecs import hookimpl
from snn_sample_convert_plugin.layers import ClipIF, ClipReLU


@hookimpl
def snn_convert_layer(module: nn.Module, name: str, config: Any) -> nn.Module | None:
    """Convert a :class:`ClipReLU` to a :class:`ClipIF`; leave every other layer alone."""
    if isinstance(module, ClipReLU):
        return ClipIF(module.bound)
    return None
