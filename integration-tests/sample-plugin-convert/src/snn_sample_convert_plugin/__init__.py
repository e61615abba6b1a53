"""A sample third-party plugin that teaches snn-convert to convert a custom layer."""

from __future__ import annotations

import logging

from snn_sample_convert_plugin.layers import ClipIF, ClipReLU

__version__ = "0.1.0"
__all__ = ["ClipIF", "ClipReLU", "__version__"]

logging.getLogger(__name__).addHandler(logging.NullHandler())
