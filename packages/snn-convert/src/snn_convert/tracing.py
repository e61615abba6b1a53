"""The ``torch.fx`` tracer that model preparation and batch-norm folding share."""

from __future__ import annotations

from collections.abc import Iterable

import torch.fx as fx
from torch import nn

__all__ = ["ConversionTracer", "node_location", "register_leaf_module", "trace_model"]

_LEAF_MODULES: set[type[nn.Module]] = set()


def register_leaf_module(cls: type[nn.Module]) -> type[nn.Module]:
    """Register ``cls`` so tracing keeps its instances as single modules instead of inlining them.

    A third-party layer that a ``snn_convert_layer`` hook converts must stay one module in the traced
    graph, so its package registers the class here at import. Usable as a class decorator.
    """
    _LEAF_MODULES.add(cls)
    return cls


class ConversionTracer(fx.Tracer):
    """Trace a model, keeping ``torch.nn`` layers, QCFS, spiking layers and registered classes whole.

    Args:
        leaf_modules: Extra module classes to keep whole, besides those from
            :func:`register_leaf_module`.
    """

    def __init__(self, leaf_modules: Iterable[type[nn.Module]] = ()) -> None:
        super().__init__()
        self.record_stack_traces = True
        self.extra_leaves = tuple(leaf_modules)

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        from snn_convert.layers import TimeFoldedLayer
        from snn_convert.qcfs import QCFS

        leaves = (QCFS, TimeFoldedLayer, *self.extra_leaves, *_LEAF_MODULES)
        if isinstance(m, leaves):
            return True
        return super().is_leaf_module(m, module_qualified_name)


def trace_model(model: nn.Module, leaf_modules: Iterable[type[nn.Module]] = ()) -> fx.GraphModule:
    """Trace ``model`` symbolically into a ``GraphModule`` that shares its parameters.

    Raises:
        TypeError: If the model cannot be traced symbolically (for example data-dependent control
            flow), with the tracer's message and the fix.
    """
    tracer = ConversionTracer(leaf_modules)
    try:
        graph = tracer.trace(model)
    except Exception as err:  # fx raises many types (TraceError, TypeError, RuntimeError, ...)
        raise TypeError(
            f"torch.fx could not trace {type(model).__name__}: {err}. Make forward() free of "
            "data-dependent control flow, or wrap the untraceable part in a module and register its "
            "class with snn_convert.register_leaf_module"
        ) from err
    name = type(model).__name__
    return fx.GraphModule(tracer.root, graph, name)


def node_location(node: fx.Node) -> str:
    """Describe where ``node`` comes from: module path and the source line of the call."""
    parts = []
    if node.op == "call_module":
        parts.append(f"module '{node.target}'")
    else:
        stack = node.meta.get("nn_module_stack")
        if stack:
            parts.append(f"inside module '{next(reversed(stack))}'")
    trace = node.stack_trace or ""
    first_line = trace.strip().splitlines()[0].strip() if trace.strip() else ""
    if first_line:
        parts.append(first_line)
    return ", ".join(parts) if parts else f"graph node '{node.name}'"
