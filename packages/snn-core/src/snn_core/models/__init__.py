"""Spiking classifiers: the :class:`SpikingClassifier` interface and the built-in small CNN."""

from snn_core.models.base import SpikingClassifier, build_encoder
from snn_core.models.spiking_cnn import SpikingCNN

__all__ = ["SpikingCNN", "SpikingClassifier", "build_encoder"]
