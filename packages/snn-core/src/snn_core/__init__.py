"""snn-core: neuron and encoder interfaces, surrogate gradients, registries and plugin hooks for
spiking neural networks. Sequences are time-major, ``[T, B, ...]``."""

import logging

from snn_core import (
    builtin,  # noqa: F401  (registers the built-in entries)
    plugins,
)
from snn_core.encoding import (
    DirectEncoder,
    Encoder,
    LatencyEncoder,
    RateEncoder,
    SpikeCameraEncoder,
)
from snn_core.functional import TimeDistributed, fold_time, rate_decode, unfold_time
from snn_core.hookspecs import hookimpl, hookspec
from snn_core.models import SpikingClassifier, SpikingCNN
from snn_core.monitor import FiringRateMonitor
from snn_core.neuron import BaseNeuron, IFNeuron, LIFNeuron, set_default_backend
from snn_core.registry import DATASETS, ENCODERS, MODELS, NEURONS, SURROGATES
from snn_core.surrogate import Surrogate

__version__ = "0.2.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "DATASETS",
    "ENCODERS",
    "MODELS",
    "NEURONS",
    "SURROGATES",
    "BaseNeuron",
    "DirectEncoder",
    "Encoder",
    "FiringRateMonitor",
    "IFNeuron",
    "LIFNeuron",
    "LatencyEncoder",
    "RateEncoder",
    "SpikeCameraEncoder",
    "SpikingCNN",
    "SpikingClassifier",
    "Surrogate",
    "TimeDistributed",
    "__version__",
    "fold_time",
    "hookimpl",
    "hookspec",
    "plugins",
    "rate_decode",
    "set_default_backend",
    "unfold_time",
]
