"""Baseline spike-to-image reconstructions: TFP (window mean) and TFI (inter-spike interval).

Both return intensities in units of the firing rate at intensity 1 (``max_rate``): a spike camera
whose white pixel fires 0.6 spikes per step gives intensity 1 for a rate of 0.6.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["tfi", "tfp", "window_bounds"]


def _as_float_spikes(spikes: np.ndarray | Tensor) -> Tensor:
    tensor = (
        spikes if isinstance(spikes, Tensor) else torch.from_numpy(np.ascontiguousarray(spikes))
    )
    if tensor.dim() < 1 or tensor.shape[0] == 0:
        raise ValueError(f"spikes must be [T, ...] with T >= 1, got shape {tuple(tensor.shape)}")
    return tensor if tensor.dtype.is_floating_point else tensor.to(torch.float32)


def window_bounds(num_frames: int, center: int | None, window: int | None) -> tuple[int, int]:
    """Return ``(start, stop)`` of a window of ``window`` frames centred on frame ``center``.

    ``center=None`` is the middle frame, ``window=None`` the whole stream. A window of odd length w
    covers ``center - w // 2 ... center + w // 2``.

    Raises:
        ValueError: If the window does not fit inside ``[0, num_frames)``.
    """
    if window is None:
        return 0, num_frames
    if center is None:
        center = num_frames // 2
    start = center - window // 2
    stop = start + window
    if window < 1 or start < 0 or stop > num_frames:
        raise ValueError(
            f"a window of {window} frames centred on frame {center} spans [{start}, {stop}), "
            f"outside the stream of {num_frames} frames; move the centre or shrink the window"
        )
    return start, stop


def tfp(
    spikes: np.ndarray | Tensor,
    *,
    center: int | None = None,
    window: int | None = None,
    max_rate: float = 1.0,
) -> Tensor:
    """Reconstruct an image by texture from playback (TFP): the mean spike rate over a window.

    Args:
        spikes: Spikes ``[T, ...]`` (for example ``[T, H, W]``), 0/1.
        center: Frame at the window centre; default the middle frame.
        window: Window length in frames; default the whole stream.
        max_rate: Firing rate of intensity 1 in spikes per step; the mean is divided by it.

    Returns:
        Float intensities ``[...]`` (not clipped).

    Raises:
        ValueError: If the window does not fit in the stream or ``max_rate`` is not positive.
    """
    if max_rate <= 0:
        raise ValueError(f"max_rate must be positive, got {max_rate}")
    tensor = _as_float_spikes(spikes)
    start, stop = window_bounds(tensor.shape[0], center, window)
    return tensor[start:stop].mean(0) / max_rate


def tfi(spikes: np.ndarray | Tensor, *, center: int | None = None, max_rate: float = 1.0) -> Tensor:
    """Reconstruct an image by texture from inter-spike intervals (TFI) at one frame.

    For every pixel the interval between the last spike at or before ``center`` and the first spike
    after it estimates the period, and the intensity is ``1 / interval / max_rate``. Where a side has
    no spike, the stream boundary replaces it (frame -1 before the start, frame T after the end).
    This underestimates the intensity there. A pixel with no spike at all gets 0.

    Args:
        spikes: Spikes ``[T, ...]``, 0/1.
        center: Frame to reconstruct; default the middle frame.
        max_rate: Firing rate of intensity 1 in spikes per step.

    Returns:
        Float intensities ``[...]`` (not clipped).

    Raises:
        ValueError: If ``center`` is outside the stream or ``max_rate`` is not positive.
    """
    if max_rate <= 0:
        raise ValueError(f"max_rate must be positive, got {max_rate}")
    tensor = _as_float_spikes(spikes)
    num_frames = tensor.shape[0]
    if center is None:
        center = num_frames // 2
    if not 0 <= center < num_frames:
        raise ValueError(f"center must be in [0, {num_frames}), got {center}")

    fired = tensor > 0
    frame_index = torch.arange(num_frames).view(-1, *([1] * (tensor.dim() - 1)))
    before = torch.where(fired[: center + 1], frame_index[: center + 1], -1).amax(0)
    if center + 1 < num_frames:
        after = torch.where(fired[center + 1 :], frame_index[center + 1 :], num_frames).amin(0)
    else:
        after = torch.full_like(before, num_frames)
    interval = (after - before).to(tensor.dtype)
    silent = ~fired.any(0)
    intensity = 1.0 / interval / max_rate
    return torch.where(silent, torch.zeros_like(intensity), intensity)
