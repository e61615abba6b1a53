"""Entry-point module: registers a neuron and an encoder, and adds the ``snn sample-hello`` command."""

from __future__ import annotations

import argparse

import torch
from torch import Tensor

import snn_core
from snn_core.encoding import Encoder
from snn_core.neuron import LIFNeuron
from snn_core.registry import ENCODERS, NEURONS


@NEURONS.register("sample-bounded-lif")
class BoundedLIF(LIFNeuron):
    """A LIF neuron whose membrane potential never falls below ``v_floor``."""

    def __init__(self, *, v_floor: float = -1.0, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.v_floor = float(v_floor)

    def reset(self, h: Tensor, spike: Tensor) -> Tensor:
        return torch.clamp(super().reset(h, spike), min=self.v_floor)

    def config(self) -> dict[str, object]:
        return {**super().config(), "v_floor": self.v_floor}


@ENCODERS.register("sample-noisy-direct")
class NoisyDirectEncoder(Encoder):
    """Direct coding plus Gaussian noise of standard deviation ``sigma`` at every step."""

    def __init__(self, time_steps: int, sigma: float = 0.05) -> None:
        super().__init__(time_steps)
        self.sigma = sigma

    def forward(self, x: Tensor) -> Tensor:
        repeated = x.unsqueeze(0).expand(self.time_steps, *x.shape)
        return repeated + self.sigma * torch.randn_like(repeated)


def _hello(args: argparse.Namespace) -> int:
    print(f"hello from the sample plugin, {args.name}")
    return 0


@snn_core.hookimpl
def snn_add_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("sample-hello", help="print a greeting from the sample plugin")
    parser.add_argument("--name", default="researcher", help="who to greet")
    parser.set_defaults(handler=_hello)
