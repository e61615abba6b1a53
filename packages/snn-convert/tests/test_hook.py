import pluggy
import pytest
import torch
from torch import nn

from snn_convert import (
    QCFS,
    ConversionConfig,
    IFActivation,
    TimeFoldedLayer,
    convert_to_snn,
    layer_plugin_manager,
)
from snn_core import hookspecs as core_hookspecs
from snn_core.hookspecs import hookimpl
from snn_core.plugins import get_plugin_manager


class Halve(nn.Module):
    """A custom stateless layer a third party defines: ``x / 2`` clipped at 0 and ``bound``."""

    def __init__(self, bound: float) -> None:
        super().__init__()
        self.bound = bound

    def forward(self, x):
        return torch.clamp(x / 2, 0, self.bound)


class HalveIF(TimeFoldedLayer):
    def __init__(self, bound: float) -> None:
        super().__init__()
        self.bound = bound

    def forward(self, x):
        x_seq = self.unfold(x) / 2
        v = torch.full_like(x_seq[0], self.bound / 2)
        out = []
        for x_t in x_seq:
            v = v + x_t
            spike = (v >= self.bound).to(x.dtype)
            v = v - spike * self.bound
            out.append(spike * self.bound)
        return self.fold(torch.stack(out))


class ThirdParty:
    def __init__(self):
        self.calls = []

    @hookimpl
    def snn_convert_layer(self, module, name, config):
        self.calls.append(name)
        if isinstance(module, Halve):
            return HalveIF(module.bound)
        return None


class OverrideQCFS:
    @hookimpl
    def snn_convert_layer(self, module, name, config):
        if isinstance(module, QCFS):
            return nn.Identity()
        return None


def _manager(*plugins):
    manager = pluggy.PluginManager("snn_core")
    manager.add_hookspecs(core_hookspecs)
    for plugin in plugins:
        manager.register(plugin)
    return layer_plugin_manager(manager)


def _ann():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(4, 8), Halve(1.0), nn.Linear(8, 8), QCFS(level=4, threshold=1.0), nn.Linear(8, 2)
    ).eval()


def test_hook_converts_third_party_layer():
    third_party = ThirdParty()
    snn = convert_to_snn(
        _ann(), ConversionConfig(time_steps=4), plugin_manager=_manager(third_party)
    )
    kinds = [type(m) for m in snn.body.modules()]
    assert HalveIF in kinds
    assert IFActivation in kinds
    assert Halve not in kinds
    assert "1" in third_party.calls  # the hook saw the layer under its path


def test_hook_converted_network_runs_with_sequence_length():
    snn = convert_to_snn(
        _ann(), ConversionConfig(time_steps=6), plugin_manager=_manager(ThirdParty())
    )
    assert snn(torch.randn(3, 4)).shape == (6, 3, 2)


def test_third_party_hook_wins_over_default_qcfs_rule():
    snn = convert_to_snn(_ann(), plugin_manager=_manager(ThirdParty(), OverrideQCFS()))
    assert not any(isinstance(m, IFActivation) for m in snn.body.modules())


def test_unconverted_custom_layer_still_computes():
    # without the third-party hook the layer is traced into the graph as its tensor operations
    snn = convert_to_snn(_ann(), ConversionConfig(time_steps=2), plugin_manager=_manager())
    assert not any(isinstance(m, HalveIF) for m in snn.body.modules())
    assert snn(torch.randn(3, 4)).shape == (2, 3, 2)


def test_hookspec_is_firstresult():
    manager = _manager()
    assert manager.hook.snn_convert_layer.spec.opts["firstresult"]


def test_core_plugin_manager_has_convert_hook():
    assert hasattr(get_plugin_manager().hook, "snn_convert_layer")


def test_network_without_spiking_layer_is_rejected():
    with pytest.raises(TypeError, match="no layer"):
        convert_to_snn(nn.Sequential(nn.Linear(2, 2)), plugin_manager=_manager())
