import torch
from torch import nn

from snn_convert import fold_batchnorm, prepare_qcfs_model
from snn_convert.models import build_ann


def _randomise_batchnorm(model: nn.Module) -> None:
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.weight.uniform_(0.5, 2.0)
                module.bias.uniform_(-0.5, 0.5)
                module.running_mean.uniform_(-0.3, 0.3)
                module.running_var.uniform_(0.5, 2.0)


class LinearBN(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 5)
        self.bn = nn.BatchNorm1d(5)
        self.out = nn.Linear(5, 2)

    def forward(self, x):
        return self.out(self.bn(self.fc(x)))


class SharedInputBN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)

    def forward(self, x):
        y = self.conv(x)
        return self.bn(y) + y  # y has two users, so the norm cannot be folded


def test_fold_conv_bn_resnet_gives_same_outputs():
    torch.manual_seed(0)
    ann = prepare_qcfs_model(
        build_ann("resnet-small", in_channels=1, num_classes=10, image_size=8), threshold=2.0
    )
    _randomise_batchnorm(ann)
    ann.eval()
    folded = fold_batchnorm(ann)
    x = torch.rand(8, 1, 8, 8)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert torch.allclose(folded(x), ann(x), atol=1e-5)


def test_fold_linear_bn_gives_same_outputs():
    torch.manual_seed(1)
    net = LinearBN()
    _randomise_batchnorm(net)
    net.eval()
    folded = fold_batchnorm(net)
    x = torch.randn(10, 6)
    assert not any(isinstance(m, nn.BatchNorm1d) for m in folded.modules())
    assert torch.allclose(folded(x), net(x), atol=1e-5)


def test_fold_keeps_bn_with_shared_input():
    torch.manual_seed(2)
    net = SharedInputBN()
    _randomise_batchnorm(net)
    net.eval()
    folded = fold_batchnorm(net)
    x = torch.rand(2, 1, 5, 5)
    assert any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert torch.allclose(folded(x), net(x), atol=1e-6)


def test_fold_leaves_original_in_training_mode():
    net = LinearBN().train()
    fold_batchnorm(net)
    assert net.training
    assert isinstance(net.bn, nn.BatchNorm1d)
