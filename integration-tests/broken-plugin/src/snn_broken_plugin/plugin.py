"""Registers a neuron, then fails: the registration must be rolled back and reported."""

from snn_core.neuron import IFNeuron
from snn_core.registry import NEURONS


@NEURONS.register("broken-if")
class BrokenIF(IFNeuron):
    """Never usable: the module raises right after registering it."""


raise ImportError("snn-broken-plugin fails on import on purpose")
