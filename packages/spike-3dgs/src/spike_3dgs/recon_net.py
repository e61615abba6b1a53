"""The self-supervised spike-to-image network of USP-Gaussian (Recon-Net) and its multi-reblur loss.

Source: Chen et al., "USP-Gaussian: Unifying Spike-based Image Reconstruction, Pose Correction and
Gaussian Splatting" (CVPR 2025). The network reconstructs a sharp image at each of K virtual time
points of a clip from three inputs:

1. a short spike window (41 frames) centred on the time point, through a 3x3 conv (41 -> 64);
2. a "voxel" of the whole clip, through a 3x3 conv (34 -> 64);
3. the normalized time index of the view, added as a constant map.

The sum goes through 3x3 convs 64 -> 128 -> 64 -> 16 -> 1 (ReLU after all but the last); there is no
normalization and no output activation. The output is in spike-rate units (spikes per step).

With the default layout a clip has 177 frames: 40 guard frames, an exposure of 97 frames whose
K = 13 view indices are ``40 + 8k``, and 40 guard frames. The voxel takes frames 20..156 (137), drops
the middle one (136 left), reshapes them to ``(4, 34)`` in frame order and sums the 4 groups, so
channel ``j`` is the sum of frames ``j, j + 34, j + 68, j + 102`` of those 136.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ReconNet", "ReconNetConfig", "build_voxel", "multi_reblur_loss", "view_windows"]


@dataclass
class ReconNetConfig:
    """Clip layout and layer widths of Recon-Net.

    Attributes:
        window: Frames in the spike branch's window around each view (odd).
        num_views: Virtual views K per clip.
        view_stride: Frames between neighbouring views.
        guard: Frames before the first view (and after the last).
        voxel_margin: Frames left out of the voxel at each end of the clip.
        voxel_bins: Channels of the voxel branch.
        hidden: Channels of the summed feature map.
        wide: Channels of the widest layer.
        narrow: Channels before the output layer.
        reblur_half_widths: Half-widths w (in views) of the reblur windows ``[c - w, c + w]`` around
            the centre view c.
    """

    window: int = 41
    num_views: int = 13
    view_stride: int = 8
    guard: int = 40
    voxel_margin: int = 20
    voxel_bins: int = 34
    hidden: int = 64
    wide: int = 128
    narrow: int = 16
    reblur_half_widths: tuple[int, ...] = field(default=(3, 4, 5, 6))

    def __post_init__(self) -> None:
        self.reblur_half_widths = tuple(int(w) for w in self.reblur_half_widths)
        if self.window % 2 != 1:
            raise ValueError(f"window must be odd so it centres on a frame, got {self.window}")
        if self.window // 2 > self.guard:
            raise ValueError(
                f"window {self.window} needs {self.window // 2} frames before the first view, "
                f"but guard is {self.guard}; raise guard or shrink window"
            )
        voxel_frames = self.clip_length - 2 * self.voxel_margin - 1
        if voxel_frames <= 0 or voxel_frames % self.voxel_bins != 0:
            raise ValueError(
                f"the voxel spans {voxel_frames} frames (clip {self.clip_length} minus 2 x margin "
                f"{self.voxel_margin} minus the middle frame), not a multiple of voxel_bins="
                f"{self.voxel_bins}; change voxel_margin or voxel_bins"
            )
        centre = self.num_views // 2
        for width in self.reblur_half_widths:
            if not 0 <= width <= centre:
                raise ValueError(
                    f"reblur half-width {width} must be in [0, {centre}] for {self.num_views} views"
                )

    @property
    def clip_length(self) -> int:
        """Frames in one clip: ``2 * guard + (num_views - 1) * view_stride + 1`` (177 by default)."""
        return 2 * self.guard + (self.num_views - 1) * self.view_stride + 1

    @property
    def centre_frame(self) -> int:
        """Index of the clip's middle frame, where the centre view sits (88 by default)."""
        return self.guard + (self.num_views // 2) * self.view_stride

    def view_frame(self, view: int) -> int:
        """Return the clip frame of view ``view`` (``guard + view_stride * view``)."""
        return self.guard + self.view_stride * view

    def to_json(self) -> str:
        """Serialize the settings to a JSON string."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ReconNetConfig:
        """Build settings from the JSON string that :meth:`to_json` wrote."""
        return cls(**json.loads(text))


def _check_clip(clip: Tensor, config: ReconNetConfig) -> None:
    if clip.dim() != 4 or clip.shape[1] != config.clip_length:
        raise ValueError(
            f"clip must be [B, {config.clip_length}, H, W] (clip_length frames), "
            f"got shape {tuple(clip.shape)}"
        )


def build_voxel(clip: Tensor, config: ReconNetConfig) -> Tensor:
    """Build the voxel input of a clip: interleaved sums of its central frames.

    Args:
        clip: Spikes ``[B, L, H, W]`` with ``L = config.clip_length``.
        config: Clip layout.

    Returns:
        Voxel ``[B, voxel_bins, H, W]``; channel ``j`` sums frames ``j + voxel_bins * g`` of the
        central frames after the middle one is dropped.

    Raises:
        ValueError: If the clip does not have ``clip_length`` frames.
    """
    _check_clip(clip, config)
    span = clip[:, config.voxel_margin : config.clip_length - config.voxel_margin]
    middle = span.shape[1] // 2
    span = torch.cat([span[:, :middle], span[:, middle + 1 :]], dim=1)
    groups = span.shape[1] // config.voxel_bins
    return span.reshape(span.shape[0], groups, config.voxel_bins, *span.shape[2:]).sum(1)


def view_windows(clip: Tensor, config: ReconNetConfig, views: list[int] | None = None) -> Tensor:
    """Cut the spike window of each view out of a clip.

    Args:
        clip: Spikes ``[B, L, H, W]``.
        config: Clip layout.
        views: View indices (default all K).

    Returns:
        Windows ``[B, V, window, H, W]``.
    """
    _check_clip(clip, config)
    views = list(range(config.num_views)) if views is None else views
    half = config.window // 2
    windows = [
        clip[:, config.view_frame(v) - half : config.view_frame(v) + half + 1] for v in views
    ]
    return torch.stack(windows, dim=1)


def _conv(in_channels: int, out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)


class ReconNet(nn.Module):
    """Recon-Net: reconstruct sharp images at K virtual time points of a spike clip.

    Args:
        config: Clip layout and widths; the defaults are those of USP-Gaussian.
    """

    def __init__(self, config: ReconNetConfig | None = None) -> None:
        super().__init__()
        self.config = config or ReconNetConfig()
        c = self.config
        self.spike_branch = _conv(c.window, c.hidden)
        self.voxel_branch = _conv(c.voxel_bins, c.hidden)
        self.body = nn.Sequential(
            _conv(c.hidden, c.wide),
            nn.ReLU(inplace=True),
            _conv(c.wide, c.hidden),
            nn.ReLU(inplace=True),
            _conv(c.hidden, c.narrow),
            nn.ReLU(inplace=True),
            _conv(c.narrow, 1),
        )

    def time_index(self, views: Tensor) -> Tensor:
        """Return the normalized time ``(frame - guard) / exposure`` in [0, 1] of views ``[V]``."""
        c = self.config
        return views.to(torch.float32) * c.view_stride / ((c.num_views - 1) * c.view_stride)

    def forward(self, clip: Tensor, views: list[int] | None = None) -> Tensor:
        """Reconstruct the views of a clip.

        Args:
            clip: Spikes ``[B, L, H, W]`` (float), ``L = config.clip_length``.
            views: View indices to reconstruct (default all K).

        Returns:
            Images ``[B, V, H, W]`` in spike-rate units (divide by the camera's ``max_rate`` to get
            intensities).

        Raises:
            ValueError: If the clip does not have ``clip_length`` frames.
        """
        views = list(range(self.config.num_views)) if views is None else views
        windows = view_windows(clip, self.config, views)  # [B, V, window, H, W]
        batch, num_views, _, height, width = windows.shape

        # 1. Spike branch, all views folded into the batch.
        spike_feat = F.relu(self.spike_branch(windows.flatten(0, 1)))
        spike_feat = spike_feat.view(batch, num_views, -1, height, width)

        # 2. Voxel branch, once per clip, shared by its views.
        voxel_feat = F.relu(self.voxel_branch(build_voxel(clip, self.config)))

        # 3. Time index, added as a constant map.
        index = self.time_index(torch.tensor(views, device=clip.device)).to(clip.dtype)
        feature = spike_feat + voxel_feat.unsqueeze(1) + index.view(1, -1, 1, 1, 1)

        out = self.body(feature.flatten(0, 1))
        return out.view(batch, num_views, height, width)


def multi_reblur_loss(predictions: Tensor, clip: Tensor, config: ReconNetConfig) -> Tensor:
    """Compute the multi-window reblur loss of USP-Gaussian.

    For each half-width w the views ``a = c - w ... b = c + w`` around the centre view c are
    averaged and compared (L1) with the mean of the raw spike frames from ``view_frame(a)`` to
    ``view_frame(b)`` inclusive, a short-exposure TFP. Several widths keep the network from collapsing
    to one long-exposure (blurred) image. The result is the mean over the widths.

    Args:
        predictions: Recon-Net outputs for all K views ``[B, K, H, W]``, spike-rate units.
        clip: The spikes ``[B, L, H, W]`` the predictions were made from.
        config: Clip layout.

    Returns:
        Scalar loss.

    Raises:
        ValueError: If ``predictions`` does not hold K views.
    """
    if predictions.dim() != 4 or predictions.shape[1] != config.num_views:
        raise ValueError(
            f"predictions must be [B, {config.num_views}, H, W], got {tuple(predictions.shape)}"
        )
    centre = config.num_views // 2
    losses = []
    for width in config.reblur_half_widths:
        first, last = centre - width, centre + width
        target = clip[:, config.view_frame(first) : config.view_frame(last) + 1].mean(1)
        blurred = predictions[:, first : last + 1].mean(1)
        losses.append(F.l1_loss(blurred, target))
    return torch.stack(losses).mean()
