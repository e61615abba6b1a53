"""Prepare an ANN for QCFS training: ReLU to QCFS (modules and functional calls), MaxPool to AvgPool."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from snn_convert.qcfs import QCFS
from snn_convert.tracing import node_location, trace_model

__all__ = ["UnsupportedActivationError", "prepare_qcfs_model"]

logger = logging.getLogger(__name__)

_RELU_FUNCTIONS = {F.relu, torch.relu, torch.relu_, F.relu_}
_RELU_METHODS = {"relu", "relu_"}
_MAXPOOL_FUNCTIONS = {F.max_pool2d, torch.max_pool2d}

# Activations that have no QCFS equivalent: a converted IF neuron only reproduces a clipped ReLU.
_UNSUPPORTED_MODULES: tuple[type[nn.Module], ...] = (
    nn.GELU, nn.SiLU, nn.ELU, nn.CELU, nn.SELU, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ReLU6,
    nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid, nn.Mish, nn.Softplus,
    nn.Softsign, nn.Tanhshrink, nn.LogSigmoid, nn.GLU,
)  # fmt: skip
_UNSUPPORTED_FUNCTIONS = {
    F.gelu, F.silu, F.elu, F.celu, F.selu, F.leaky_relu, F.prelu, F.rrelu, F.relu6, F.hardtanh,
    F.hardswish, F.hardsigmoid, F.mish, F.softplus, F.softsign, F.tanhshrink, F.logsigmoid, F.glu,
    torch.sigmoid, torch.tanh, F.elu_, F.leaky_relu_, F.hardtanh_, torch.selu, torch.celu,
}  # fmt: skip
_UNSUPPORTED_METHODS = {"sigmoid", "sigmoid_", "tanh", "tanh_"}


class UnsupportedActivationError(TypeError):
    """Raised when a model contains activations that QCFS cannot replace.

    Attributes:
        locations: One line per activation: its kind and where it is in the model.
    """

    def __init__(self, locations: list[str]) -> None:
        self.locations = locations
        listing = "\n".join(f"  - {line}" for line in locations)
        super().__init__(
            f"{len(locations)} activation(s) cannot be replaced by QCFS, because a converted IF "
            f"neuron only reproduces a clipped ReLU:\n{listing}\n"
            "Use nn.ReLU or F.relu in these places, or register a conversion for the layer through "
            "the snn_convert_layer hook."
        )


def _unique_name(graph_module: fx.GraphModule, base: str) -> str:
    name = base.replace(".", "_")
    existing = dict(graph_module.named_modules())
    candidate, index = name, 1
    while candidate in existing:
        candidate = f"{name}_{index}"
        index += 1
    return candidate


def _avgpool_from_maxpool(pool: nn.MaxPool2d) -> nn.AvgPool2d:
    dilation = pool.dilation if isinstance(pool.dilation, int) else max(pool.dilation)
    if dilation != 1 or pool.return_indices:
        raise ValueError(
            f"MaxPool2d with dilation={pool.dilation} or return_indices={pool.return_indices} has "
            "no AvgPool2d equivalent; use dilation=1 and return_indices=False"
        )
    return nn.AvgPool2d(
        pool.kernel_size, stride=pool.stride, padding=pool.padding, ceil_mode=pool.ceil_mode,
        count_include_pad=True,
    )  # fmt: skip


def _maxpool_function_args(node: fx.Node) -> nn.MaxPool2d:
    names = ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
    values = dict(zip(names, node.args[1:]))
    values.update(node.kwargs)
    return nn.MaxPool2d(**values)


def prepare_qcfs_model(
    model: nn.Module,
    *,
    level: int = 4,
    threshold: float = 8.0,
    replace_maxpool: bool = True,
    leaf_modules: Iterable[type[nn.Module]] = (),
) -> fx.GraphModule:
    """Replace every ReLU of ``model`` with its own QCFS layer and every MaxPool2d with AvgPool2d.

    The model is traced with ``torch.fx``, so ``nn.ReLU`` modules, functional calls (``F.relu``,
    ``torch.relu``) and tensor methods (``x.relu()``) are all found. A ReLU module used at several
    places gets one QCFS (one threshold) per call site. The returned ``GraphModule`` shares the
    remaining parameters with ``model``.

    Args:
        model: The ANN; its forward must be traceable by ``torch.fx``.
        level: QCFS quantisation level ``L``.
        threshold: Initial QCFS clip threshold.
        replace_maxpool: Replace ``nn.MaxPool2d`` and ``F.max_pool2d`` by average pooling with the
            same kernel, stride and padding (the IF network can only average spikes).
        leaf_modules: Module classes to keep whole while tracing (custom layers a conversion hook
            handles).

    Returns:
        The prepared model as a ``torch.fx.GraphModule``.

    Raises:
        UnsupportedActivationError: If the model has activations other than ReLU (GELU, SiLU,
            sigmoid, ...), listing each with its module path and source line.
        TypeError: If the model cannot be traced.
    """
    graph_module = trace_model(model, leaf_modules)
    modules = dict(graph_module.named_modules())
    unsupported: list[str] = []
    replaced = 0
    claimed: set[str] = set()

    for node in list(graph_module.graph.nodes):
        kind = None
        if node.op == "call_module":
            module = modules[node.target]
            if isinstance(module, nn.ReLU):
                kind = "relu"
            elif isinstance(module, nn.MaxPool2d) and replace_maxpool:
                kind = "maxpool"
            elif isinstance(module, _UNSUPPORTED_MODULES):
                unsupported.append(f"{type(module).__name__} at {node_location(node)}")
        elif node.op == "call_function":
            if node.target in _RELU_FUNCTIONS:
                kind = "relu"
            elif node.target in _MAXPOOL_FUNCTIONS and replace_maxpool:
                kind = "maxpool"
            elif node.target in _UNSUPPORTED_FUNCTIONS:
                name = getattr(node.target, "__name__", str(node.target))
                unsupported.append(f"function {name} at {node_location(node)}")
        elif node.op == "call_method":
            if node.target in _RELU_METHODS:
                kind = "relu"
            elif node.target in _UNSUPPORTED_METHODS:
                unsupported.append(f"method .{node.target}() at {node_location(node)}")

        if kind is None:
            continue
        if kind == "relu":
            new_module: nn.Module = QCFS(level=level, threshold=threshold)
            base = node.target if node.op == "call_module" else f"qcfs_{node.name}"
        else:
            pool = (
                modules[node.target] if node.op == "call_module" else _maxpool_function_args(node)
            )
            new_module = _avgpool_from_maxpool(pool)
            base = f"{node.target}_avg" if node.op == "call_module" else f"avgpool_{node.name}"
        if node.op == "call_module" and node.target not in claimed:
            name = str(node.target)  # the first call site keeps the module's path
        else:
            name = _unique_name(graph_module, str(base))
        claimed.add(name)
        graph_module.add_submodule(name, new_module)
        with graph_module.graph.inserting_after(node):
            new_node = graph_module.graph.call_module(name, args=(node.args[0],))
        node.replace_all_uses_with(new_node)
        graph_module.graph.erase_node(node)
        replaced += kind == "relu"

    if unsupported:
        raise UnsupportedActivationError(unsupported)
    graph_module.delete_all_unused_submodules()
    graph_module.graph.lint()
    graph_module.recompile()
    logger.info("replaced %d ReLU call sites with QCFS (level %d)", replaced, level)
    if replaced == 0:
        logger.warning("model %s has no ReLU to replace", type(model).__name__)
    return graph_module
