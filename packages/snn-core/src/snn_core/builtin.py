"""The built-in plugin: importing it registers snn-core's own neurons, surrogates, encoders,
models and datasets. The plugin manager registers it first, under the name "snn-core"."""

from snn_core import datasets, encoding, models, neuron, surrogate  # noqa: F401  (registration)
