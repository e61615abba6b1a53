"""Self-supervised training of Recon-Net on one spike stream, and inference with it."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from snn_core.checkpoint import load_checkpoint, save_checkpoint
from spike_3dgs.recon_net import ReconNet, ReconNetConfig, multi_reblur_loss

logger = logging.getLogger(__name__)

__all__ = [
    "ReconTrainConfig",
    "load_recon_net",
    "reconstruct_with_net",
    "save_recon_net",
    "train_recon_net",
]


@dataclass
class ReconTrainConfig:
    """Settings of Recon-Net's self-supervised training on one stream.

    Attributes:
        steps: Optimizer steps.
        batch_size: Clips per step.
        crop_size: Side of the square random crop in pixels (the network is fully convolutional,
            so crops only bound the cost per step).
        lr: Initial Adam learning rate.
        lr_final: Learning rate at the last step (exponential decay).
        flip: Augment with random horizontal and vertical flips.
        seed: Seed of weight init, clip and crop sampling.
        device: Torch device name.
        log_every: Steps between log lines.
    """

    steps: int = 1000
    batch_size: int = 2
    crop_size: int = 48
    lr: float = 1e-3
    lr_final: float = 1e-5
    flip: bool = True
    seed: int = 0
    device: str = "cpu"
    log_every: int = 50

    def to_json(self) -> str:
        """Serialize the settings to a JSON string."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ReconTrainConfig:
        """Build settings from the JSON string that :meth:`to_json` wrote."""
        return cls(**json.loads(text))


def _sample_batch(
    spikes: Tensor, clip_length: int, crop: int, batch: int, flip: bool, generator: torch.Generator
) -> Tensor:
    num_frames, height, width = spikes.shape
    clips = []
    for _ in range(batch):
        start = int(torch.randint(0, num_frames - clip_length + 1, (1,), generator=generator))
        top = int(torch.randint(0, height - crop + 1, (1,), generator=generator))
        left = int(torch.randint(0, width - crop + 1, (1,), generator=generator))
        clip = spikes[start : start + clip_length, top : top + crop, left : left + crop]
        if flip and bool(torch.randint(0, 2, (1,), generator=generator)):
            clip = clip.flip(-1)
        if flip and bool(torch.randint(0, 2, (1,), generator=generator)):
            clip = clip.flip(-2)
        clips.append(clip)
    return torch.stack(clips).to(torch.float32)


def train_recon_net(
    spikes: np.ndarray | Tensor,
    net_config: ReconNetConfig | None = None,
    train_config: ReconTrainConfig | None = None,
    callback: Callable[[int, float], None] | None = None,
) -> tuple[ReconNet, dict[str, Any]]:
    """Train Recon-Net on one spike stream with the multi-reblur loss alone (no ground truth).

    Each step samples ``batch_size`` clips of ``clip_length`` frames at random start frames and
    random square crops, predicts all K views and minimizes :func:`multi_reblur_loss`.

    Args:
        spikes: Spikes ``[T, H, W]`` (0/1), ``T >= clip_length`` (177 by default).
        net_config: Network settings.
        train_config: Training settings.
        callback: Called as ``callback(step, loss)`` after every step.

    Returns:
        ``(net, history)``: the trained network (in eval mode) and a dict with the per-step
        ``loss`` list, ``seconds`` and both configs.

    Raises:
        ValueError: If the stream is shorter than a clip, smaller than the crop, or a loss is NaN.
    """
    net_config = net_config or ReconNetConfig()
    train_config = train_config or ReconTrainConfig()
    stream = torch.as_tensor(np.asarray(spikes) if not isinstance(spikes, Tensor) else spikes)
    if stream.dim() != 3:
        raise ValueError(f"spikes must be [T, H, W], got shape {tuple(stream.shape)}")
    num_frames, height, width = stream.shape
    if num_frames < net_config.clip_length:
        raise ValueError(
            f"the stream has {num_frames} frames but a clip needs {net_config.clip_length}; "
            f"record longer or shrink guard/num_views/view_stride"
        )
    crop = train_config.crop_size
    if crop > min(height, width):
        raise ValueError(f"crop_size {crop} exceeds the frame size {height}x{width}; lower it")

    device = torch.device(train_config.device)
    torch.manual_seed(train_config.seed)
    generator = torch.Generator().manual_seed(train_config.seed)
    net = ReconNet(net_config).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=train_config.lr)
    decay = (train_config.lr_final / train_config.lr) ** (1.0 / max(train_config.steps - 1, 1))
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=decay)

    losses: list[float] = []
    start_time = time.perf_counter()
    net.train()
    for step in range(train_config.steps):
        clip = _sample_batch(
            stream,
            net_config.clip_length,
            crop,
            train_config.batch_size,
            train_config.flip,
            generator,
        ).to(device)
        loss = multi_reblur_loss(net(clip), clip, net_config)
        if not torch.isfinite(loss):
            raise ValueError(f"the loss became {loss.item()} at step {step}; lower lr")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        if callback is not None:
            callback(step, losses[-1])
        if train_config.log_every and (step + 1) % train_config.log_every == 0:
            recent = float(np.mean(losses[-train_config.log_every :]))
            logger.info("step %d/%d, reblur loss %.5f", step + 1, train_config.steps, recent)

    net.eval()
    history = {
        "loss": losses,
        "seconds": time.perf_counter() - start_time,
        "net_config": asdict(net_config),
        "train_config": asdict(train_config),
    }
    return net, history


@torch.no_grad()
def reconstruct_with_net(
    net: ReconNet, spikes: np.ndarray | Tensor, center: int | None = None, max_rate: float = 1.0
) -> Tensor:
    """Reconstruct the image at frame ``center`` of a stream with a trained Recon-Net.

    The clip of ``clip_length`` frames centred on ``center`` is cut out and only its centre view is
    computed.

    Args:
        net: Trained network.
        spikes: Spikes ``[T, H, W]``.
        center: Frame to reconstruct (default the middle frame).
        max_rate: Firing rate of intensity 1; the network's spike-rate output is divided by it.

    Returns:
        Intensities ``[H, W]`` float32 (not clipped).

    Raises:
        ValueError: If the clip around ``center`` does not fit in the stream.
    """
    config = net.config
    stream = torch.as_tensor(np.asarray(spikes) if not isinstance(spikes, Tensor) else spikes)
    num_frames = stream.shape[0]
    center = num_frames // 2 if center is None else center
    start = center - config.centre_frame
    stop = start + config.clip_length
    if start < 0 or stop > num_frames:
        raise ValueError(
            f"a clip of {config.clip_length} frames centred on frame {center} spans "
            f"[{start}, {stop}), outside the stream of {num_frames} frames; choose a centre in "
            f"[{config.centre_frame}, {num_frames - config.clip_length + config.centre_frame}]"
        )
    device = next(net.parameters()).device
    clip = stream[start:stop].to(device=device, dtype=torch.float32).unsqueeze(0)
    was_training = net.training
    net.eval()
    image = net(clip, views=[config.num_views // 2])[0, 0]
    net.train(was_training)
    return (image / max_rate).cpu()


def save_recon_net(path: str | Path, net: ReconNet, metadata: dict[str, Any] | None = None) -> Path:
    """Save a Recon-Net as ``PATH.safetensors`` (weights) plus ``PATH.json`` (its config).

    Args:
        path: Checkpoint path without suffix.
        net: The network.
        metadata: Extra JSON-able entries (for example the training config and loss).

    Returns:
        The path without suffix.
    """
    record = {**(metadata or {}), "net_config": asdict(net.config)}
    return save_checkpoint(path, net.state_dict(), record)


def load_recon_net(path: str | Path, device: str | torch.device = "cpu") -> ReconNet:
    """Load a Recon-Net written by :func:`save_recon_net` (no unpickling).

    Raises:
        FileNotFoundError: If the checkpoint files are missing.
    """
    tensors, metadata = load_checkpoint(path, device=device)
    net = ReconNet(ReconNetConfig(**metadata["net_config"])).to(device)
    net.load_state_dict(tensors)
    net.eval()
    return net
