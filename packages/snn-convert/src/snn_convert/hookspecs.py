"""Hook specifications that snn-convert adds to the snn-core plugin manager.

snn-convert adds this module through ``snn_add_hookspecs``, so every installed plugin can implement
the hooks with ``@snn_core.hookimpl``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from snn_core.hookspecs import hookspec

if TYPE_CHECKING:
    from snn_convert.convert import ConversionConfig


@hookspec(firstresult=True)
def snn_convert_layer(module: nn.Module, name: str, config: ConversionConfig) -> nn.Module | None:
    """Map one layer of a QCFS-trained ANN to its spiking form.

    ``firstresult``: the converter calls this for every submodule, outer modules first. The first
    implementation that returns a module wins, and that module replaces the layer, so its children
    are not visited. Plugins registered later are called first, and snn-convert's own
    implementation (QCFS to a soft-reset IF neuron) runs last, so a third party can override it.
    Returning None leaves the layer to the next implementation, or unchanged if none converts it.

    The returned module runs inside the converted network on time-folded tensors ``[S * B, ...]``.
    A stateful layer subclasses :class:`snn_convert.TimeFoldedLayer` to learn ``S`` and unfold the
    sequence. A stateless layer can be returned as it is.

    Any plugin may implement it.

    :param module: The ANN layer (after batch-norm folding, in evaluation mode).
    :param name: Its dotted path in the ANN.
    :param config: The conversion settings (method, pre-simulation steps, ...).
    :return: The spiking replacement, or None.
    """
