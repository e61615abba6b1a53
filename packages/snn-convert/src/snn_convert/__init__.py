"""ANN-to-SNN conversion for snn-core: QCFS training, COS and SRP calibration, LM-HT neurons."""

from __future__ import annotations

import logging

from snn_convert.calibration import (
    cos_initial_potential,
    desired_spike_count,
    offset_spikes,
    simulate_if,
    srp_mask,
)
from snn_convert.convert import ConversionConfig, ConvertedSNN, convert_to_snn, layer_plugin_manager
from snn_convert.evaluate import (
    NoCalibrationDataError,
    evaluate_ann,
    evaluate_per_step,
    offset_spike_histograms,
    srp_mask_statistics,
)
from snn_convert.folding import fold_batchnorm
from snn_convert.layers import (
    IFActivation,
    MaskStatistics,
    NeuronActivation,
    OffsetStatistics,
    TimeFoldedLayer,
)
from snn_convert.lmht import LMHTNeuron, ReparameterizedLMHTNeuron, multilevel_fire
from snn_convert.lmht_network import (
    build_lmht_network,
    compare_reparameterized,
    hybrid_from_converted,
    hybrid_lmht_network,
    lmht_neurons,
    reparameterize_lmht,
    sum_sub_steps,
)
from snn_convert.network import SpikingNetwork
from snn_convert.prepare import UnsupportedActivationError, prepare_qcfs_model
from snn_convert.qcfs import QCFS, floor_ste
from snn_convert.tracing import register_leaf_module

__version__ = "0.2.0"

__all__ = [
    "QCFS",
    "ConversionConfig",
    "ConvertedSNN",
    "IFActivation",
    "LMHTNeuron",
    "MaskStatistics",
    "NeuronActivation",
    "NoCalibrationDataError",
    "OffsetStatistics",
    "ReparameterizedLMHTNeuron",
    "SpikingNetwork",
    "TimeFoldedLayer",
    "UnsupportedActivationError",
    "__version__",
    "build_lmht_network",
    "compare_reparameterized",
    "convert_to_snn",
    "cos_initial_potential",
    "desired_spike_count",
    "evaluate_ann",
    "evaluate_per_step",
    "floor_ste",
    "fold_batchnorm",
    "hybrid_from_converted",
    "hybrid_lmht_network",
    "layer_plugin_manager",
    "lmht_neurons",
    "multilevel_fire",
    "offset_spike_histograms",
    "offset_spikes",
    "prepare_qcfs_model",
    "register_leaf_module",
    "reparameterize_lmht",
    "simulate_if",
    "srp_mask",
    "srp_mask_statistics",
    "sum_sub_steps",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
