"""Spiking neurons: the :class:`BaseNeuron` interface and the IF/LIF family."""

from snn_core.neuron.base import (
    Backend,
    BaseNeuron,
    ResetMode,
    SpikeKind,
    compute_dtype,
    get_default_backend,
    set_default_backend,
)
from snn_core.neuron.lif import IFNeuron, LIFNeuron

__all__ = [
    "Backend",
    "BaseNeuron",
    "IFNeuron",
    "LIFNeuron",
    "ResetMode",
    "SpikeKind",
    "compute_dtype",
    "get_default_backend",
    "set_default_backend",
]
