import pytest
import torch

from snn_convert import QCFS
from snn_convert.models import build_ann
from snn_core.registry import MODELS

NAMES = ["vgg16", "vgg-small", "resnet18", "resnet20", "resnet34", "resnet-small"]


@pytest.mark.parametrize("name", NAMES)
def test_model_registered_with_qcfs(name):
    model = MODELS.build(f"qcfs-{name}", in_channels=3, num_classes=10, image_size=32, level=8)
    levels = {m.level for m in model.modules() if isinstance(m, QCFS)}
    assert levels == {8}
    assert not any(isinstance(m, torch.nn.ReLU) for m in model.modules())
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in model.modules())


@pytest.mark.parametrize("name", ["vgg-small", "resnet-small", "resnet20"])
def test_small_models_forward_on_digits_shape(name):
    model = MODELS.build(f"qcfs-{name}", in_channels=1, num_classes=10, image_size=8)
    assert model(torch.rand(2, 1, 8, 8)).shape == (2, 10)


def test_vgg16_paper_layout():
    model = build_ann("vgg16", in_channels=3, num_classes=100, image_size=32)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert len(convs) == 13
    assert [(m.in_features, m.out_features) for m in linears] == [
        (512, 4096),
        (4096, 4096),
        (4096, 100),
    ]


@pytest.mark.parametrize(("name", "blocks"), [("resnet18", 8), ("resnet20", 9), ("resnet34", 16)])
def test_resnet_block_counts(name, blocks):
    from snn_convert.models import BasicBlock

    model = build_ann(name, in_channels=3, num_classes=10, image_size=32)
    assert sum(isinstance(m, BasicBlock) for m in model.modules()) == blocks


def test_unknown_architecture_lists_known():
    with pytest.raises(KeyError, match="resnet18"):
        build_ann("alexnet", in_channels=3, num_classes=10, image_size=32)
