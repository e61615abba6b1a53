"""Spike camera streams, spike-to-image reconstruction and a Gaussian splatting renderer.

An snn-core plugin: `.dat`/`.npy`/`.npz` spike stream I/O with windowed memory-mapped reads, a spike
camera simulator on snn-core's spike-camera encoder, TFP/TFI baselines, USP-Gaussian's
self-supervised Recon-Net, and :func:`rasterize`, which renders 3D Gaussians with gsplat on CUDA
tensors and with a differentiable PyTorch backend on CPU tensors.
"""

import logging

from spike_3dgs.io import (
    SpikeFileError,
    SpikeFileInfo,
    read_spike_info,
    read_spikes,
    write_spikes,
)
from spike_3dgs.recon_net import ReconNet, ReconNetConfig, build_voxel, multi_reblur_loss
from spike_3dgs.recon_train import (
    ReconTrainConfig,
    load_recon_net,
    reconstruct_with_net,
    save_recon_net,
    train_recon_net,
)
from spike_3dgs.reconstruct import tfi, tfp
from spike_3dgs.simulate import (
    SimulatorConfig,
    load_sample_image,
    simulate_demo_stream,
    simulate_spikes,
)

__version__ = "0.2.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "ReconNet",
    "ReconNetConfig",
    "ReconTrainConfig",
    "SimulatorConfig",
    "SpikeFileError",
    "SpikeFileInfo",
    "__version__",
    "build_voxel",
    "load_recon_net",
    "load_sample_image",
    "multi_reblur_loss",
    "read_spike_info",
    "read_spikes",
    "reconstruct_with_net",
    "save_recon_net",
    "simulate_demo_stream",
    "simulate_spikes",
    "tfi",
    "tfp",
    "train_recon_net",
    "write_spikes",
]
