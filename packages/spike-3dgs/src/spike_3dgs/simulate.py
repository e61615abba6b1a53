"""Spike camera simulator: image sequences to spike streams.

Built on snn-core's spike-camera encoder: every pixel accumulates ``gain * intensity`` per step,
fires when the accumulator reaches ``threshold`` and subtracts it, so the firing rate is
``gain * intensity / threshold`` spikes per step (capped at 1). A random initial accumulator gives each
pixel a random phase, and optional noise spikes are ORed in.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from snn_core.encoding import SpikeCameraEncoder

logger = logging.getLogger(__name__)

__all__ = [
    "SAMPLE_IMAGES",
    "SimulatorConfig",
    "load_sample_image",
    "make_panning_frames",
    "simulate_demo_stream",
    "simulate_spikes",
    "to_grayscale",
]

Interpolation = Literal["hold", "linear"]

# scikit-image sample photos that ship inside the package (no download).
SAMPLE_IMAGES = ("camera", "astronaut", "coffee", "chelsea", "rocket", "moon", "page", "text")


@dataclass
class SimulatorConfig:
    """Settings of the spike camera simulator.

    Attributes:
        threshold: Accumulator threshold, in units of ``gain * intensity``.
        gain: Charge per step for intensity 1. The firing rate of a white pixel is
            ``gain / threshold`` spikes per step (0.5 with the defaults, as in USP-Gaussian's simulator).
        random_phase: Start each accumulator uniformly in ``[0, threshold)``.
        noise_rate: Probability per pixel and step of an extra noise spike.
        steps_per_frame: Spike steps generated for each input frame.
        interpolation: ``"hold"`` keeps each frame for its steps; ``"linear"`` blends neighbouring
            frames so intensities change smoothly between them.
        seed: Seed of the phase and noise draws.
    """

    threshold: float = 2.0
    gain: float = 1.0
    random_phase: bool = True
    noise_rate: float = 0.0
    steps_per_frame: int = 1
    interpolation: Interpolation = "hold"
    seed: int | None = 0

    def __post_init__(self) -> None:
        if self.steps_per_frame < 1:
            raise ValueError(f"steps_per_frame must be >= 1, got {self.steps_per_frame}")
        if self.interpolation not in ("hold", "linear"):
            raise ValueError(
                f"interpolation must be 'hold' or 'linear', got {self.interpolation!r}"
            )

    @property
    def max_rate(self) -> float:
        """Firing rate of intensity 1 in spikes per step (``gain / threshold``, at most 1)."""
        return min(self.gain / self.threshold, 1.0)

    def to_json(self) -> str:
        """Serialize the settings to a JSON string."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> SimulatorConfig:
        """Build settings from the JSON string that :meth:`to_json` wrote."""
        return cls(**json.loads(text))


def to_grayscale(frames: np.ndarray | Tensor, rgb: bool = True) -> Tensor:
    """Convert RGB frames ``[..., H, W, 3]`` to grey with 0.3 R + 0.59 G + 0.11 B.

    Args:
        frames: RGB ``[..., 3]`` or, with ``rgb=False``, grey frames returned unchanged as float32.
            Integer input is scaled by 1/255.
        rgb: Whether the last dimension contains R, G, B.

    Raises:
        ValueError: If ``rgb`` is True and the last dimension is not 3.
    """
    tensor = torch.as_tensor(np.asarray(frames) if not isinstance(frames, Tensor) else frames)
    if not tensor.dtype.is_floating_point:
        tensor = tensor.to(torch.float32) / 255.0
    tensor = tensor.to(torch.float32)
    if not rgb:
        return tensor
    if tensor.shape[-1] != 3:
        raise ValueError(f"RGB frames need a last dimension of 3, got shape {tuple(tensor.shape)}")
    weights = torch.tensor([0.3, 0.59, 0.11])
    return (tensor * weights).sum(-1)


def _expand_frames(frames: Tensor, config: SimulatorConfig) -> Tensor:
    steps = config.steps_per_frame
    if steps == 1:
        return frames
    if config.interpolation == "hold" or frames.shape[0] == 1:
        return frames.repeat_interleave(steps, dim=0)
    # Linear blend: step j of frame i mixes frame i and i + 1 with weight j / steps.
    weights = torch.arange(steps, dtype=frames.dtype) / steps
    current = frames[:-1, None]
    following = frames[1:, None]
    shape = (-1, steps) + (1,) * (frames.dim() - 1)
    blended = current * (1 - weights.view(shape)) + following * weights.view(shape)
    blended = blended.reshape(-1, *frames.shape[1:])
    return torch.cat([blended, frames[-1:].repeat_interleave(steps, dim=0)])


def simulate_spikes(
    frames: np.ndarray | Tensor, config: SimulatorConfig | None = None, **overrides: Any
) -> np.ndarray:
    """Simulate a spike stream from a sequence of intensity frames.

    Args:
        frames: Intensities ``[N, H, W]`` in [0, 1] (or ``[N, H, W, 3]`` RGB, converted to grey;
            integer images are scaled by 1/255). Each frame lasts ``steps_per_frame`` spike steps.
        config: Simulator settings; keyword ``overrides`` replace single fields.

    Returns:
        ``uint8`` spikes ``[N * steps_per_frame, H, W]`` of 0/1, rows top-down.

    Raises:
        ValueError: If ``frames`` is not ``[N, H, W]``/``[N, H, W, 3]`` or contains negative or NaN
            intensities.
    """
    config = SimulatorConfig(**{**asdict(config or SimulatorConfig()), **overrides})
    rgb = np.ndim(frames) == 4
    grey = to_grayscale(frames, rgb=rgb)
    if grey.dim() != 3:
        raise ValueError(
            f"frames must be [N, H, W] or [N, H, W, 3], got shape {tuple(grey.shape)}; "
            f"add a leading frame axis to a single image"
        )
    if torch.isnan(grey).any() or (grey < 0).any():
        raise ValueError("frames hold NaN or negative intensities; clip them to [0, 1]")
    intensity = _expand_frames(grey, config)
    encoder = SpikeCameraEncoder(
        time_steps=intensity.shape[0],
        threshold=config.threshold,
        gain=config.gain,
        random_phase=config.random_phase,
        noise_rate=config.noise_rate,
        seed=config.seed,
        straight_through=False,
    )
    spikes = encoder.encode_sequence(intensity.unsqueeze(1)).squeeze(1)
    logger.debug(
        "simulated %d spike frames of %dx%d, mean rate %.4f",
        spikes.shape[0],
        spikes.shape[1],
        spikes.shape[2],
        float(spikes.mean()),
    )
    return spikes.to(torch.uint8).numpy()


def load_sample_image(name: str = "camera") -> np.ndarray:
    """Load a scikit-image sample photo as grey float32 ``[H, W]`` in [0, 1].

    Args:
        name: One of :data:`SAMPLE_IMAGES`; all ship inside scikit-image, nothing is downloaded.

    Raises:
        ValueError: If ``name`` is not a known sample.
    """
    import skimage.data

    if name not in SAMPLE_IMAGES:
        raise ValueError(f"unknown sample image {name!r}; choose one of {', '.join(SAMPLE_IMAGES)}")
    image = getattr(skimage.data, name)()
    return to_grayscale(image, rgb=image.ndim == 3).numpy()


def make_panning_frames(
    image: np.ndarray, num_frames: int, height: int, width: int, shift: int = 0
) -> np.ndarray:
    """Crop a window that pans horizontally across an image, one crop per frame.

    The image is first resized so its height equals ``height``; the window then moves from the left
    by ``shift`` pixels in total over the frames (0 gives a static scene).

    Args:
        image: Grey image ``[H0, W0]`` in [0, 1].
        num_frames: Number of frames N.
        height: Crop height in pixels.
        width: Crop width in pixels.
        shift: Total horizontal motion in pixels (at the resized scale).

    Returns:
        Frames ``[N, height, width]`` float32.

    Raises:
        ValueError: If the resized image is too narrow for the window and the shift.
    """
    from skimage.transform import resize

    scale = height / image.shape[0]
    new_width = max(round(image.shape[1] * scale), width + shift)
    resized = resize(image, (height, new_width), anti_aliasing=True).astype(np.float32)
    offsets = np.linspace(0, shift, num_frames) if num_frames > 1 else np.zeros(1)
    frames = np.empty((num_frames, height, width), dtype=np.float32)
    for index, offset in enumerate(offsets):
        left = int(np.floor(offset))
        frac = float(offset - left)
        crop = resized[:, left : left + width + 1]
        if crop.shape[1] < width + 1:
            crop = np.pad(crop, ((0, 0), (0, width + 1 - crop.shape[1])), mode="edge")
        frames[index] = (1 - frac) * crop[:, :width] + frac * crop[:, 1 : width + 1]
    return frames


def simulate_demo_stream(
    image: str = "camera",
    num_steps: int = 200,
    height: int = 128,
    width: int = 128,
    shift: int = 0,
    config: SimulatorConfig | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate a spike stream of a scikit-image sample photo, optionally panning across it.

    Args:
        image: Sample photo name (see :data:`SAMPLE_IMAGES`).
        num_steps: Number of spike steps T.
        height: Frame height in pixels.
        width: Frame width in pixels.
        shift: Total horizontal pan over the stream, in pixels.
        config: Simulator settings (``steps_per_frame`` is forced to 1).

    Returns:
        ``(spikes, frames)``: ``uint8`` spikes ``[T, H, W]`` and the float32 intensities
        ``[T, H, W]`` that produced them (the ground truth).
    """
    frames = make_panning_frames(load_sample_image(image), num_steps, height, width, shift)
    config = config or SimulatorConfig()
    spikes = simulate_spikes(frames, config, steps_per_frame=1)
    return spikes, frames
