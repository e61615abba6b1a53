"""VGG- and ResNet-style classifiers for QCFS training, registered with snn-core's model registry.

The registered factories return the ANN already prepared for QCFS training (every ReLU replaced by
its own QCFS, MaxPool by AvgPool). Paper definitions: VGG-16 (conv 3x3 with bias, BN, activation;
classifier 512 -> 4096 -> 4096 -> classes) and ResNet-18/20/34 (3x3 stem without max-pooling,
BasicBlocks with a 1x1 conv + BN shortcut when the shape changes). The ``-small`` variants train on a
CPU in minutes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch.fx as fx
from torch import Tensor, nn

from snn_convert.prepare import prepare_qcfs_model
from snn_core.registry import MODELS

__all__ = ["VGG", "VGG_CONFIGS", "BasicBlock", "ResNet"]

# Integers are conv widths, "M" is a 2x2 max-pool (average pool after preparation).
VGG_CONFIGS: dict[str, list[int | str]] = {
    "vgg16": [
        64,
        64,
        "M",
        128,
        128,
        "M",
        256,
        256,
        256,
        "M",
        512,
        512,
        512,
        "M",
        512,
        512,
        512,
        "M",
    ],
    "vgg-small": [32, 32, "M", 64, 64, "M"],
}


class VGG(nn.Module):
    """VGG-style classifier: 3x3 conv + BN + ReLU blocks, 2x2 pooling, an MLP head.

    A pooling layer is skipped when the feature map is already 1x1, so small images work.

    Args:
        config: Conv widths and "M" for pooling.
        in_channels: Input channels.
        num_classes: Output classes.
        image_size: Input height (= width), in pixels.
        hidden: Widths of the hidden linear layers of the head (``[4096, 4096]`` for VGG-16).
        dropout: Dropout probability in the head (0 in the conversion papers).
    """

    def __init__(
        self,
        config: Sequence[int | str],
        *,
        in_channels: int,
        num_classes: int,
        image_size: int,
        hidden: Sequence[int] = (4096, 4096),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels, size = in_channels, image_size
        for item in config:
            if item == "M":
                if size >= 2:
                    layers.append(nn.MaxPool2d(2, 2))
                    size //= 2
                continue
            width = int(item)
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
            channels = width
        self.features = nn.Sequential(*layers)
        self.flatten = nn.Flatten()

        head: list[nn.Module] = []
        width = channels * size * size
        for hidden_width in hidden:
            head += [nn.Linear(width, hidden_width), nn.ReLU()]
            if dropout > 0:
                head.append(nn.Dropout(dropout))
            width = hidden_width
        head.append(nn.Linear(width, num_classes))
        self.classifier = nn.Sequential(*head)
        _init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        """Map images ``[B, C, H, W]`` to logits ``[B, K]``."""
        x = self.features(x)
        x = self.flatten(x)
        return self.classifier(x)


class BasicBlock(nn.Module):
    """ResNet basic block: conv-BN-ReLU-conv-BN plus a shortcut, then ReLU after the addition."""

    def __init__(self, in_channels: int, channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(channels),
            )
        self.relu2 = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        """Map ``[B, C_in, H, W]`` to ``[B, C, H / stride, W / stride]``."""
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + self.shortcut(x))


class ResNet(nn.Module):
    """ResNet of basic blocks with a 3x3 stride-1 stem and no max-pooling (the CIFAR form).

    Args:
        blocks: Blocks per stage.
        widths: Channels per stage; the stem has ``stem_width`` channels.
        in_channels: Input channels.
        num_classes: Output classes.
        stem_width: Channels of the stem conv.
    """

    def __init__(
        self,
        blocks: Sequence[int],
        widths: Sequence[int],
        *,
        in_channels: int,
        num_classes: int,
        stem_width: int,
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, stem_width, 3, padding=1, bias=False),
            nn.BatchNorm2d(stem_width),
            nn.ReLU(),
        )
        stages: list[nn.Module] = []
        channels = stem_width
        for index, (count, width) in enumerate(zip(blocks, widths)):
            stride = 1 if index == 0 else 2
            stage = [BasicBlock(channels, width, stride)]
            stage += [BasicBlock(width, width) for _ in range(count - 1)]
            stages.append(nn.Sequential(*stage))
            channels = width
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(channels, num_classes)
        _init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        """Map images ``[B, C, H, W]`` to logits ``[B, K]``."""
        x = self.stem(x)
        x = self.stages(x)
        x = self.flatten(self.pool(x))
        return self.fc(x)


def _init_weights(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.zeros_(module.bias)


_RESNETS: dict[str, tuple[list[int], list[int], int]] = {
    "resnet18": ([2, 2, 2, 2], [64, 128, 256, 512], 64),
    "resnet20": ([3, 3, 3], [16, 32, 64], 16),
    "resnet34": ([3, 4, 6, 3], [64, 128, 256, 512], 64),
    "resnet-small": ([1, 1], [16, 32], 16),
}


def build_ann(
    name: str, *, in_channels: int, num_classes: int, image_size: int, **kwargs: Any
) -> nn.Module:
    """Build the ReLU/MaxPool ANN definition ``name`` (before QCFS preparation).

    Args:
        name: ``vgg16``, ``vgg-small``, ``resnet18``, ``resnet20``, ``resnet34`` or ``resnet-small``.
        in_channels: Input channels.
        num_classes: Output classes.
        image_size: Input height (= width), in pixels.
        **kwargs: Extra arguments of :class:`VGG` (``hidden``, ``dropout``).

    Raises:
        KeyError: For an unknown name, listing the known ones.
    """
    if name in VGG_CONFIGS:
        if name == "vgg-small":
            kwargs.setdefault("hidden", (128,))
        return VGG(
            VGG_CONFIGS[name],
            in_channels=in_channels,
            num_classes=num_classes,
            image_size=image_size,
            **kwargs,
        )
    if name in _RESNETS:
        blocks, widths, stem = _RESNETS[name]
        return ResNet(
            blocks, widths, in_channels=in_channels, num_classes=num_classes, stem_width=stem
        )
    known = ", ".join([*VGG_CONFIGS, *_RESNETS])
    raise KeyError(f"unknown architecture {name!r}; known: {known}")


def _register(name: str) -> None:
    def factory(
        *,
        in_channels: int,
        num_classes: int,
        image_size: int,
        time_steps: int = 4,
        level: int = 4,
        threshold: float = 8.0,
        **kwargs: Any,
    ) -> fx.GraphModule:
        # time_steps is part of the registry's factory signature; a QCFS ANN has no time axis.
        ann = build_ann(
            name, in_channels=in_channels, num_classes=num_classes, image_size=image_size, **kwargs
        )
        return prepare_qcfs_model(ann, level=level, threshold=threshold)

    factory.__doc__ = (
        f"Build the {name} classifier prepared for QCFS training (``level`` L, initial clip "
        "``threshold``); returns logits ``[B, K]``."
    )
    MODELS.register(f"qcfs-{name}", factory)


for _name in [*VGG_CONFIGS, *_RESNETS]:
    _register(_name)
