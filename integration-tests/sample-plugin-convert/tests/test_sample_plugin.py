"""The sample plugin, installed through its entry point, teaches snn-convert a new layer."""

from __future__ import annotations

import os

import torch
from snn_sample_convert_plugin import ClipIF, ClipReLU
from torch import nn

from snn_convert import ConversionConfig, IFActivation, convert_to_snn
from snn_convert.qcfs import QCFS
from snn_core.plugins import get_plugin_manager, plugin_report

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _ann() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(6, 32),
        ClipReLU(1.5),
        nn.Linear(32, 16),
        QCFS(level=4, threshold=2.0),
        nn.Linear(16, 3),
    ).eval()


def test_entry_point_plugin_loaded():
    names = {info.name: info for info in plugin_report()}
    assert "snn-sample-convert-plugin" in names
    assert names["snn-sample-convert-plugin"].loaded
    assert "snn-convert" in names


def test_hook_spec_added_by_snn_convert():
    assert hasattr(get_plugin_manager().hook, "snn_convert_layer")


def test_converter_uses_third_party_layer():
    snn = convert_to_snn(_ann(), ConversionConfig(time_steps=8))
    layers = list(snn.body.modules())
    assert any(isinstance(m, ClipIF) for m in layers)
    assert any(isinstance(m, IFActivation) for m in layers)  # snn-convert still converts QCFS
    assert not any(isinstance(m, ClipReLU) for m in layers)


def test_third_party_layer_rate_matches_ann():
    torch.manual_seed(1)
    ann = nn.Sequential(nn.Linear(6, 32), ClipReLU(1.5), nn.Linear(32, 3)).eval()
    x = torch.randn(64, 6)
    snn = convert_to_snn(ann, ConversionConfig(time_steps=256))
    with torch.no_grad():
        difference = (snn(x).mean(0) - ann(x)).abs().max()
    # one hidden layer: each rate is within bound / (2 T) of the clipped input
    assert difference < 0.05
