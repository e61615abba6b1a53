import pytest
import torch
import torch.nn.functional as F
from torch import nn

from snn_convert import QCFS, UnsupportedActivationError, prepare_qcfs_model


class FunctionalNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.shared = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        x = self.shared(self.conv(x))
        x = F.relu(x - 0.1)
        x = torch.relu(x + 0.1)
        x = self.pool(x.relu())
        x = self.shared(x)  # the same ReLU module at a second call site
        return self.fc(torch.flatten(x, 1))


class MixedActivations(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 4)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(4, 4)

    def forward(self, x):
        x = self.act(self.fc1(x))
        x = F.silu(self.fc2(x))
        return torch.sigmoid(x)


def test_prepare_replaces_every_relu_call_site():
    prepared = prepare_qcfs_model(FunctionalNet(), level=4)
    qcfs_layers = [m for m in prepared.modules() if isinstance(m, QCFS)]
    assert len(qcfs_layers) == 5
    assert len({id(m) for m in qcfs_layers}) == 5  # one threshold per call site
    assert not any(isinstance(m, nn.ReLU) for m in prepared.modules())


def test_prepare_graph_calls_no_relu():
    prepared = prepare_qcfs_model(FunctionalNet())
    targets = [node.target for node in prepared.graph.nodes]
    assert F.relu not in targets
    assert torch.relu not in targets
    assert "relu" not in targets


def test_prepare_swaps_maxpool_for_avgpool():
    prepared = prepare_qcfs_model(FunctionalNet())
    assert any(isinstance(m, nn.AvgPool2d) for m in prepared.modules())
    assert not any(isinstance(m, nn.MaxPool2d) for m in prepared.modules())


def test_prepared_outputs_equal_manual_qcfs():
    torch.manual_seed(0)
    net = FunctionalNet()
    prepared = prepare_qcfs_model(net, level=4, threshold=1.0)
    x = torch.rand(2, 1, 8, 8)
    q = QCFS(level=4, threshold=1.0)
    h = q(net.conv(x))
    h = q(h - 0.1)
    h = q(h + 0.1)
    h = F.avg_pool2d(q(h), 2)
    expected = net.fc(torch.flatten(q(h), 1))
    assert torch.allclose(prepared(x), expected, atol=1e-6)


def test_prepare_lists_unreplaceable_activations():
    with pytest.raises(UnsupportedActivationError) as info:
        prepare_qcfs_model(MixedActivations())
    locations = info.value.locations
    assert len(locations) == 3
    assert any("GELU" in line and "'act'" in line for line in locations)
    assert any("silu" in line for line in locations)
    assert any("sigmoid" in line for line in locations)
    assert "line" in str(info.value)  # points at the source line


def test_prepare_does_not_modify_input_model():
    net = FunctionalNet()
    prepare_qcfs_model(net)
    assert isinstance(net.shared, nn.ReLU)
    assert isinstance(net.pool, nn.MaxPool2d)
