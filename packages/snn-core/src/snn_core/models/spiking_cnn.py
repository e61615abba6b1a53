"""A small spiking convolutional network for image classification on CPU."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from snn_core.encoding import Encoder
from snn_core.functional import TimeDistributed
from snn_core.models.base import SpikingClassifier
from snn_core.registry import MODELS, NEURONS

__all__ = ["SpikingCNN"]


@MODELS.register("spiking-cnn")
class SpikingCNN(SpikingClassifier):
    """Two conv-BN-neuron-pool stages and a linear read-out, trained with surrogate-gradient BPTT.

    Layout (time folded into the batch for the ANN layers)::

        conv3x3(in, c1) - BN - neuron - avgpool2 - conv3x3(c1, c2) - BN - neuron - avgpool2
        - flatten - linear(c2 * (S/4)^2, hidden) - neuron - linear(hidden, K)

    Args:
        in_channels: Input image channels.
        num_classes: Number of classes ``K``.
        image_size: Input height (= width) ``S`` in pixels, divisible by 4.
        time_steps: Simulation steps ``T``.
        channels: ``(c1, c2)``, the conv widths.
        hidden: Width of the hidden linear layer.
        neuron: Registered neuron name.
        neuron_kwargs: Keyword arguments for every neuron, such as ``{"tau": 2.0}``.
        encoder: Input encoder (name, instance or config dict).

    Raises:
        ValueError: If ``image_size`` is not divisible by 4.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        num_classes: int,
        image_size: int,
        time_steps: int = 4,
        channels: tuple[int, int] = (16, 32),
        hidden: int = 128,
        neuron: str = "lif",
        neuron_kwargs: dict[str, Any] | None = None,
        encoder: str | Encoder | dict[str, Any] = "direct",
    ) -> None:
        super().__init__(time_steps, encoder)
        if image_size % 4:
            raise ValueError(
                f"image_size must be divisible by 4 (two 2x2 poolings), got {image_size}"
            )
        settings = dict(neuron_kwargs or {})
        first, second = channels
        pooled = image_size // 4

        self.stage1 = TimeDistributed(
            nn.Conv2d(in_channels, first, 3, padding=1, bias=False), nn.BatchNorm2d(first)
        )
        self.neuron1 = NEURONS.build(neuron, **settings)
        self.pool1 = TimeDistributed(nn.AvgPool2d(2))

        self.stage2 = TimeDistributed(
            nn.Conv2d(first, second, 3, padding=1, bias=False), nn.BatchNorm2d(second)
        )
        self.neuron2 = NEURONS.build(neuron, **settings)
        self.pool2 = TimeDistributed(nn.AvgPool2d(2))

        self.hidden = TimeDistributed(nn.Flatten(), nn.Linear(second * pooled * pooled, hidden))
        self.neuron3 = NEURONS.build(neuron, **settings)
        self.classifier = TimeDistributed(nn.Linear(hidden, num_classes))

    def forward_sequence(self, x_seq: Tensor) -> Tensor:
        x = self.pool1(self.neuron1(self.stage1(x_seq)))

        x = self.pool2(self.neuron2(self.stage2(x)))

        x = self.neuron3(self.hidden(x))
        return self.classifier(x)
