"""Differentiable tile-binned alpha compositing of 2D Gaussians in plain PyTorch (the CPU backend).

The image is cut into square tiles. Every Gaussian is listed in each tile its bounding box touches,
and each tile's list is sorted front to back by depth. Tiles are then composited in chunks of
Gaussians, front to back: at pixel p a Gaussian adds ``alpha * T * color`` with transmittance
``T = prod_{j before i} (1 - alpha_j)`` and ``alpha = min(alpha_max, opacity * exp(-sigma))``.
As in gsplat, a Gaussian is skipped at a pixel where ``alpha < 1/255`` or ``sigma < 0``, and a pixel
stops at the first Gaussian that would push T to 1e-4 or below (that Gaussian is not added). A chunk
is only computed for tiles that still have Gaussians left and an unfinished pixel, which is the
early termination.

The backward pass is written by hand (:class:`_CompositeTiles`): it walks the same chunks front to
back again, recomputes alpha and transmittance, and uses the suffix sum
``S_i = sum_{j after i} w_j c_j = C_final - sum_{j <= i} w_j c_j`` so that no per-pixel list has to
be stored. With ``w_i = alpha_i T_i`` the derivatives are
``dC/dc_i = w_i`` and ``dC/dalpha_i = T_i c_i - S_i / (1 - alpha_i)``, and for the final
transmittance ``dT/dalpha_i = -T_final / (1 - alpha_i)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from spike_3dgs.render.projection import ALPHA_THRESHOLD

__all__ = ["TileBins", "bin_gaussians", "composite_tiles"]

# Transmittance at or below which a pixel is finished.
TRANSMITTANCE_MIN = 1e-4


@dataclass
class TileBins:
    """Depth-sorted Gaussian lists of every tile, padded to a matrix.

    Attributes:
        ids: Flat ``camera * N + gaussian`` index per tile and slot ``[num_tiles_total, K]``; -1 pads.
        counts: Gaussians per tile ``[num_tiles_total]``.
        tiles_x: Tiles per image row.
        tiles_y: Tiles per image column.
    """

    ids: Tensor
    counts: Tensor
    tiles_x: int
    tiles_y: int


@torch.no_grad()
def bin_gaussians(
    means2d: Tensor, radii: Tensor, depths: Tensor, width: int, height: int, tile_size: int
) -> TileBins:
    """List the Gaussians that touch each tile, sorted front to back.

    Args:
        means2d: Pixel means ``[C, N, 2]``.
        radii: Bounding half-extents ``[C, N, 2]`` (0 = culled).
        depths: Depths ``[C, N]``.
        width: Image width W.
        height: Image height H.
        tile_size: Tile side in pixels.

    Returns:
        :class:`TileBins` over ``C * tiles_y * tiles_x`` tiles, camera-major then row-major.
    """
    num_cameras, num_gaussians = depths.shape
    tiles_x = (width + tile_size - 1) // tile_size
    tiles_y = (height + tile_size - 1) // tile_size
    tiles_per_camera = tiles_x * tiles_y
    device = means2d.device

    # 1. Tile rectangle [x0, x1) x [y0, y1) of each Gaussian.
    centre = means2d.detach() / tile_size
    extent = radii.to(means2d.dtype) / tile_size
    lower = torch.floor(centre - extent).to(torch.int64)
    upper = torch.ceil(centre + extent).to(torch.int64)
    x0, x1 = lower[..., 0].clamp(0, tiles_x), upper[..., 0].clamp(0, tiles_x)
    y0, y1 = lower[..., 1].clamp(0, tiles_y), upper[..., 1].clamp(0, tiles_y)
    visible = (radii > 0).all(-1)
    span_x = (x1 - x0) * visible
    span_y = (y1 - y0) * visible
    counts_per_gaussian = (span_x * span_y).flatten()  # [C * N]

    # 2. One (tile, gaussian) pair per covered tile.
    flat_ids = torch.repeat_interleave(
        torch.arange(num_cameras * num_gaussians, device=device), counts_per_gaussian
    )
    first_pair = torch.cumsum(counts_per_gaussian, 0) - counts_per_gaussian
    offset = torch.arange(flat_ids.numel(), device=device) - first_pair[flat_ids]
    width_of = span_x.flatten()[flat_ids].clamp(min=1)
    tile_x = x0.flatten()[flat_ids] + offset % width_of
    tile_y = y0.flatten()[flat_ids] + offset // width_of
    camera = flat_ids // num_gaussians
    tile = camera * tiles_per_camera + tile_y * tiles_x + tile_x

    # 3. Sort by tile, then by depth within the camera.
    depth_rank = torch.empty_like(depths, dtype=torch.int64)
    order = torch.argsort(depths.detach(), dim=1)
    depth_rank.scatter_(1, order, torch.arange(num_gaussians, device=device).expand_as(order))
    key = tile * num_gaussians + depth_rank.flatten()[flat_ids]
    key, sort = torch.sort(key)
    flat_ids, tile = flat_ids[sort], tile[sort]

    # 4. Pad each tile's list into a row of an index matrix.
    num_tiles = num_cameras * tiles_per_camera
    counts = torch.bincount(tile, minlength=num_tiles)
    slot = torch.arange(tile.numel(), device=device) - (torch.cumsum(counts, 0) - counts)[tile]
    max_count = int(counts.max()) if counts.numel() else 0
    ids = torch.full((num_tiles, max(max_count, 1)), -1, dtype=torch.int64, device=device)
    ids[tile, slot] = flat_ids
    return TileBins(ids, counts, tiles_x, tiles_y)


def _tile_pixel_centres(
    bins: TileBins, tile_size: int, dtype: torch.dtype, device: torch.device
) -> tuple[Tensor, Tensor]:
    """Return the x and y pixel centres of every tile, each ``[num_tiles, tile_size**2]``."""
    local = torch.arange(tile_size, device=device, dtype=dtype)
    local_y, local_x = torch.meshgrid(local, local, indexing="ij")
    tile_index = torch.arange(bins.ids.shape[0], device=device) % (bins.tiles_x * bins.tiles_y)
    origin_x = (tile_index % bins.tiles_x).to(dtype) * tile_size
    origin_y = (tile_index // bins.tiles_x).to(dtype) * tile_size
    pixel_x = origin_x[:, None] + local_x.flatten()[None] + 0.5
    pixel_y = origin_y[:, None] + local_y.flatten()[None] + 0.5
    return pixel_x, pixel_y


@dataclass
class _Chunk:
    """Alpha and transmittance of one chunk of Gaussians over the pixels of its active tiles."""

    tiles: Tensor  # [A] active tiles
    safe_ids: Tensor  # [A, k] flat Gaussian index (padding clamped to 0)
    present: Tensor  # [A, k] slot contains a Gaussian
    dx: Tensor  # [A, k, P] mean x - pixel x
    dy: Tensor  # [A, k, P]
    alpha: Tensor  # [A, k, P] clamped alpha, 0 where the Gaussian is skipped
    t_before: Tensor  # [A, k, P] transmittance in front of each Gaussian
    weight: Tensor  # [A, k, P] alpha * T for kept Gaussians, else 0
    finished: Tensor  # [A, P] pixels that stopped inside this chunk


def _compute_chunk(
    ids: Tensor,
    tiles: Tensor,
    pixel_x: Tensor,
    pixel_y: Tensor,
    means: Tensor,
    conics: Tensor,
    opacities: Tensor,
    t_in: Tensor,
    done: Tensor,
    alpha_max: float,
) -> _Chunk:
    present = ids >= 0
    safe_ids = ids.clamp(min=0)
    mean = means[safe_ids]  # [A, k, 2]
    conic = conics[safe_ids]  # [A, k, 3]
    dx = mean[..., 0, None] - pixel_x[tiles, None, :]
    dy = mean[..., 1, None] - pixel_y[tiles, None, :]
    # sigma = 0.5 * (a dx^2 + c dy^2) + b dx dy, built with fused multiply-adds.
    half_a = 0.5 * conic[..., 0, None]
    half_c = 0.5 * conic[..., 2, None]
    sigma = torch.addcmul(conic[..., 1, None] * dy, half_a, dx).mul_(dx)
    sigma.addcmul_(half_c * dy, dy)
    used = sigma >= 0
    alpha = torch.exp(sigma.neg_()).mul_(opacities[safe_ids][..., None])  # before the clamp
    used &= alpha >= ALPHA_THRESHOLD
    used &= present[..., None]
    used &= ~done[:, None, :]
    alpha = alpha.clamp_max_(alpha_max).mul_(used)

    log_step = torch.log1p(-alpha)
    log_after = torch.cumsum(log_step, dim=1)
    t_before = torch.exp(log_after.sub_(log_step)).mul_(t_in[:, None, :])
    # A pixel stops before the first Gaussian whose T would reach the minimum. T only falls, so
    # the Gaussians kept are exactly those whose T after them is still above it.
    kept = t_before * (1.0 - alpha) > TRANSMITTANCE_MIN
    weight = (alpha * t_before).mul_(kept)
    finished = (used & ~kept).any(1)
    return _Chunk(tiles, safe_ids, present, dx, dy, alpha, t_before, weight, finished)


class _CompositeTiles(torch.autograd.Function):
    """Front-to-back compositing with a hand-written backward; see the module docstring.

    The forward pass keeps each chunk's per-pixel tensors for the backward pass: about
    6 * 4 bytes per (tile, Gaussian, pixel) entry in float32.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        means: Tensor,
        conics: Tensor,
        opacities: Tensor,
        colors: Tensor,
        bins: TileBins,
        pixel_x: Tensor,
        pixel_y: Tensor,
        alpha_max: float,
        chunk_size: int,
    ) -> tuple[Tensor, Tensor]:
        num_tiles, pixels = pixel_x.shape
        transmittance = torch.ones(num_tiles, pixels, dtype=means.dtype, device=means.device)
        done = torch.zeros(num_tiles, pixels, dtype=torch.bool, device=means.device)
        accumulated = means.new_zeros(num_tiles, pixels, colors.shape[-1])
        max_count = int(bins.counts.max()) if bins.counts.numel() else 0
        keep_chunks = any(ctx.needs_input_grad[:4])
        chunks: list[_Chunk] = []

        for first in range(0, max_count, chunk_size):
            # Only tiles with Gaussians left and an unfinished pixel take part (early termination).
            tiles = torch.nonzero((bins.counts > first) & ~done.all(1)).squeeze(1)
            if tiles.numel() == 0:
                break
            ids = bins.ids[tiles, first : first + chunk_size]
            t_in = transmittance[tiles]
            chunk = _compute_chunk(
                ids, tiles, pixel_x, pixel_y, means, conics, opacities, t_in, done[tiles], alpha_max
            )
            colors_chunk = colors[chunk.safe_ids]  # [A, k, D]
            accumulated.index_add_(0, tiles, torch.bmm(chunk.weight.transpose(1, 2), colors_chunk))
            transmittance[tiles] = t_in - chunk.weight.sum(1)
            done[tiles] |= chunk.finished
            if keep_chunks:
                chunks.append(chunk)

        ctx.save_for_backward(means, conics, opacities, colors, accumulated, transmittance)
        ctx.alpha_max, ctx.chunks = alpha_max, chunks
        return accumulated, transmittance

    @staticmethod
    def backward(ctx: Any, grad_color: Tensor, grad_trans: Tensor) -> tuple[Any, ...]:
        means, conics, opacities, colors, final_color, final_trans = ctx.saved_tensors
        grad_color = grad_color.contiguous()

        grad_means = torch.zeros_like(means)
        grad_conics = torch.zeros_like(conics)
        grad_opacities = torch.zeros_like(opacities)
        grad_colors = torch.zeros_like(colors)
        safe_opacities = torch.where(opacities > 0, opacities, torch.ones_like(opacities))

        # Per pixel: g . C_final, and the T_final term shared by every Gaussian of the pixel.
        final_dot = (final_color * grad_color).sum(-1)  # [tiles, P]
        trans_term = grad_trans * final_trans
        front_dot = torch.zeros_like(final_dot)  # g . sum of w_j c_j over earlier chunks

        for chunk in ctx.chunks:
            tiles = chunk.tiles
            g = grad_color[tiles]  # [A, P, D]
            colors_chunk = colors[chunk.safe_ids]  # [A, k, D]
            color_dot = torch.bmm(colors_chunk, g.transpose(1, 2))  # [A, k, P] = c_i . g
            weighted = chunk.weight * color_dot
            behind_dot = torch.cumsum(weighted, dim=1)  # becomes g . S_i below
            behind_dot.sub_(final_dot[tiles][:, None, :] - front_dot[tiles][:, None, :]).neg_()
            front_dot[tiles] += weighted.sum(1)

            # dL/dalpha_i = T_i (c_i . g) - (g . S_i + g_T T_final) / (1 - alpha_i), only where the
            # Gaussian was added and its alpha was not clamped.
            behind_dot.add_(trans_term[tiles][:, None, :]).div_(1.0 - chunk.alpha)
            grad_alpha = torch.mul(chunk.t_before, color_dot).sub_(behind_dot)
            grad_alpha.mul_((chunk.weight > 0) & (chunk.alpha < ctx.alpha_max))

            # alpha = opacity * exp(-sigma): d alpha / d opacity = alpha / opacity and
            # d alpha / d sigma = -alpha.
            grad_sigma = grad_alpha.mul_(chunk.alpha).neg_()
            opacity = safe_opacities[chunk.safe_ids]
            grad_opacity_chunk = -grad_sigma.sum(-1) / opacity  # [A, k]
            gsx = grad_sigma * chunk.dx
            gsy = grad_sigma.mul_(chunk.dy)
            sum_gsx, sum_gsy = gsx.sum(-1), gsy.sum(-1)
            conic = conics[chunk.safe_ids]  # [A, k, 3]
            grad_conic_chunk = torch.stack(
                [
                    0.5 * (gsx * chunk.dx).sum(-1),
                    gsx.mul_(chunk.dy).sum(-1),
                    0.5 * gsy.mul_(chunk.dy).sum(-1),
                ],
                dim=-1,
            )
            grad_mean_chunk = torch.stack(
                [
                    conic[..., 0] * sum_gsx + conic[..., 1] * sum_gsy,
                    conic[..., 1] * sum_gsx + conic[..., 2] * sum_gsy,
                ],
                dim=-1,
            )
            grad_color_chunk = torch.bmm(chunk.weight, g)  # [A, k, D]

            present = chunk.present
            flat = chunk.safe_ids[present]
            grad_means.index_add_(0, flat, grad_mean_chunk[present])
            grad_conics.index_add_(0, flat, grad_conic_chunk[present])
            grad_opacities.index_add_(0, flat, grad_opacity_chunk[present])
            grad_colors.index_add_(0, flat, grad_color_chunk[present])

        return grad_means, grad_conics, grad_opacities, grad_colors, None, None, None, None, None


def composite_tiles(
    bins: TileBins,
    means2d: Tensor,
    conics: Tensor,
    opacities: Tensor,
    colors: Tensor,
    width: int,
    height: int,
    tile_size: int,
    *,
    alpha_max: float = 0.999,
    chunk_size: int = 64,
) -> tuple[Tensor, Tensor]:
    """Alpha-composite the binned Gaussians front to back, tile by tile, differentiably.

    Args:
        bins: Output of :func:`bin_gaussians`.
        means2d: Pixel means ``[C, N, 2]``.
        conics: Inverse 2D covariances ``(a, b, c)`` ``[C, N, 3]``.
        opacities: Opacities ``[C, N]``.
        colors: Colors or features ``[C, N, D]``.
        width: Image width W.
        height: Image height H.
        tile_size: Tile side in pixels.
        alpha_max: Upper clamp of a single Gaussian's alpha (gsplat 1.x uses 0.999).
        chunk_size: Gaussians per tile composited per step; a smaller chunk stops earlier on
            opaque tiles but costs more Python steps.

    Returns:
        ``(colors [C, H, W, D], transmittance [C, H, W])`` before the background is added.
    """
    num_cameras = means2d.shape[0]
    channels = colors.shape[-1]
    pixel_x, pixel_y = _tile_pixel_centres(bins, tile_size, means2d.dtype, means2d.device)
    accumulated, transmittance = _CompositeTiles.apply(
        means2d.reshape(-1, 2),
        conics.reshape(-1, 3),
        opacities.reshape(-1),
        colors.reshape(-1, channels),
        bins,
        pixel_x,
        pixel_y,
        alpha_max,
        chunk_size,
    )

    # Tiles back to images [C, H, W, D].
    tiles_x, tiles_y = bins.tiles_x, bins.tiles_y
    image = accumulated.reshape(num_cameras, tiles_y, tiles_x, tile_size, tile_size, channels)
    image = image.permute(0, 1, 3, 2, 4, 5).reshape(
        num_cameras, tiles_y * tile_size, tiles_x * tile_size, channels
    )
    trans = transmittance.reshape(num_cameras, tiles_y, tiles_x, tile_size, tile_size)
    trans = trans.permute(0, 1, 3, 2, 4).reshape(
        num_cameras, tiles_y * tile_size, tiles_x * tile_size
    )
    return image[:, :height, :width], trans[:, :height, :width]
