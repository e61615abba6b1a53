"""Fold batch normalisation into the preceding convolution or linear layer."""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable

import torch.fx as fx
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

from snn_convert.tracing import trace_model

__all__ = ["fold_batchnorm"]

logger = logging.getLogger(__name__)

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def fold_batchnorm(
    model: nn.Module, *, leaf_modules: Iterable[type[nn.Module]] = ()
) -> fx.GraphModule:
    """Return an evaluation-mode copy of ``model`` with each BatchNorm folded into its producer.

    A BatchNorm in evaluation mode is the affine map ``y = gamma (z - mean) / sqrt(var + eps) + beta``
    per channel, so when its input comes only from a conv or linear layer the weight becomes
    ``W * gamma / sqrt(var + eps)`` and the bias ``(b - mean) * gamma / sqrt(var + eps) + beta``, and the
    norm layer disappears. A BatchNorm whose input is shared with other consumers, or not produced by
    a conv/linear layer, is kept (it stays an affine per-step map, which the SNN can still run).

    Args:
        model: The trained ANN. It is not modified.
        leaf_modules: Module classes to keep whole while tracing.

    Returns:
        The folded model in evaluation mode.

    Raises:
        TypeError: If the model cannot be traced by ``torch.fx``.
    """
    model = copy.deepcopy(model).eval()
    graph_module = trace_model(model, leaf_modules)
    modules = dict(graph_module.named_modules())
    folded = kept = 0

    for node in list(graph_module.graph.nodes):
        if node.op != "call_module" or not isinstance(modules[node.target], _NORMS):
            continue
        norm = modules[node.target]
        producer = node.args[0]
        producer_module = (
            modules.get(producer.target)
            if isinstance(producer, fx.Node) and producer.op == "call_module"
            else None
        )
        foldable = (
            isinstance(producer_module, (*_CONVS, nn.Linear))
            and len(producer.users) == 1
            and norm.track_running_stats
            and norm.running_mean is not None
        )
        if not foldable:
            kept += 1
            logger.info(
                "kept BatchNorm '%s': its input is not a conv/linear output of its own", node.target
            )
            continue
        if isinstance(producer_module, nn.Linear):
            fused = fuse_linear_bn_eval(producer_module, norm)
        else:
            fused = fuse_conv_bn_eval(producer_module, norm)
        graph_module.add_submodule(str(producer.target), fused)
        node.replace_all_uses_with(producer)
        graph_module.graph.erase_node(node)
        folded += 1

    graph_module.delete_all_unused_submodules()
    graph_module.graph.lint()
    graph_module.recompile()
    logger.info("folded %d BatchNorm layers, kept %d", folded, kept)
    return graph_module.eval()
