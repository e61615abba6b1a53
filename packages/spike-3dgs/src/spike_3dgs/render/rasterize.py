"""One function to render 3D Gaussians: gsplat on CUDA tensors, a PyTorch backend elsewhere.

The backend is chosen by the device of ``means``: CUDA tensors go to gsplat's public
``gsplat.rasterization`` (an optional dependency, imported only then), all other devices to the
tile-binned PyTorch backend of :mod:`spike_3dgs.render.cpu_backend`. Both take and return the same
tensors, and ``info`` carries ``means2d``, ``radii [C, N, 2]``, ``width``, ``height`` and
``n_cameras`` so gsplat's ``DefaultStrategy`` can densify and prune either way.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import torch
from torch import Tensor

from spike_3dgs.render.cpu_backend import bin_gaussians, composite_tiles
from spike_3dgs.render.projection import project_gaussians
from spike_3dgs.render.sh import num_sh_bases, sh_to_color

logger = logging.getLogger(__name__)

__all__ = ["Backend", "RasterizeMode", "RenderMode", "rasterize", "select_backend"]

Backend = Literal["auto", "gsplat", "torch"]
RenderMode = Literal["RGB", "D", "ED", "RGB+D", "RGB+ED"]
RasterizeMode = Literal["classic", "antialiased"]


def select_backend(device: torch.device, backend: Backend = "auto") -> Literal["gsplat", "torch"]:
    """Pick the rendering backend for tensors on ``device``.

    Args:
        device: Device of the Gaussians.
        backend: ``"auto"`` (gsplat on CUDA, PyTorch otherwise) or a backend to force.

    Raises:
        ValueError: If ``"gsplat"`` is requested for non-CUDA tensors, or ``backend`` is unknown.
    """
    if backend == "auto":
        return "gsplat" if device.type == "cuda" else "torch"
    if backend == "gsplat" and device.type != "cuda":
        raise ValueError(
            f"the gsplat backend renders only CUDA tensors, got tensors on {device}; move them to "
            f"CUDA or use backend='torch'"
        )
    if backend not in ("gsplat", "torch"):
        raise ValueError(f"backend must be 'auto', 'gsplat' or 'torch', got {backend!r}")
    return backend


def _check_inputs(
    means: Tensor,
    quats: Tensor,
    scales: Tensor,
    opacities: Tensor,
    colors: Tensor,
    viewmats: Tensor,
    Ks: Tensor,
    width: int,
    height: int,
    sh_degree: int | None,
) -> None:
    n = means.shape[0] if means.dim() == 2 else -1
    expected = {
        "means": (means, (n, 3)),
        "quats": (quats, (n, 4)),
        "scales": (scales, (n, 3)),
        "opacities": (opacities, (n,)),
    }
    for name, (tensor, shape) in expected.items():
        if tuple(tensor.shape) != shape:
            raise ValueError(
                f"{name} must have shape {list(shape)} (N = {n} Gaussians), got {list(tensor.shape)}"
            )
    if viewmats.dim() != 3 or viewmats.shape[1:] != (4, 4):
        raise ValueError(f"viewmats must be [C, 4, 4], got {list(viewmats.shape)}")
    num_cameras = viewmats.shape[0]
    if tuple(Ks.shape) != (num_cameras, 3, 3):
        raise ValueError(f"Ks must be [C, 3, 3] with C = {num_cameras}, got {list(Ks.shape)}")
    if sh_degree is None:
        if (
            colors.dim() not in (2, 3)
            or colors.shape[-2] != n
            or (colors.dim() == 3 and colors.shape[0] != num_cameras)
        ):
            raise ValueError(
                f"colors must be [N, D] or [C, N, D] (N = {n}, C = {num_cameras}) without "
                f"sh_degree, got {list(colors.shape)}; pass sh_degree for SH coefficients [N, K, 3]"
            )
    else:
        if not 0 <= sh_degree <= 3:
            raise ValueError(f"sh_degree must be 0..3, got {sh_degree}")
        if colors.dim() != 3 or colors.shape[0] != n or colors.shape[-1] != 3:
            raise ValueError(
                f"with sh_degree, colors must be SH coefficients [N, K, 3] (N = {n}), "
                f"got {list(colors.shape)}"
            )
        if colors.shape[1] < num_sh_bases(sh_degree):
            raise ValueError(
                f"sh_degree {sh_degree} needs K >= {num_sh_bases(sh_degree)} coefficients, "
                f"got K = {colors.shape[1]}"
            )
    if width <= 0 or height <= 0:
        raise ValueError(f"width and height must be positive, got {width} x {height}")
    devices = {t.device for t in (means, quats, scales, opacities, colors, viewmats, Ks)}
    if len(devices) != 1:
        raise ValueError(f"all tensors must be on one device, got {sorted(map(str, devices))}")


def rasterize(
    means: Tensor,
    quats: Tensor,
    scales: Tensor,
    opacities: Tensor,
    colors: Tensor,
    viewmats: Tensor,
    Ks: Tensor,
    width: int,
    height: int,
    *,
    near_plane: float = 0.01,
    far_plane: float = 1e10,
    radius_clip: float = 0.0,
    eps2d: float = 0.3,
    sh_degree: int | None = None,
    backgrounds: Tensor | None = None,
    render_mode: RenderMode = "RGB",
    rasterize_mode: RasterizeMode = "classic",
    tile_size: int = 16,
    backend: Backend = "auto",
    chunk_size: int = 64,
) -> tuple[Tensor, Tensor, dict[str, Any]]:
    """Render N 3D Gaussians into C pinhole cameras, differentiably.

    The arguments follow gsplat's ``rasterization`` (non-packed mode). Scales are standard
    deviations and opacities are in [0, 1], both after their activations.

    Args:
        means: Means ``[N, 3]`` in world units.
        quats: Rotations ``[N, 4]`` as (w, x, y, z), normalized inside.
        scales: Standard deviations ``[N, 3]``.
        opacities: Opacities ``[N]``.
        colors: Colors ``[N, D]`` or ``[C, N, D]``; with ``sh_degree`` spherical harmonics
            coefficients ``[N, K, 3]``, ``K >= (sh_degree + 1) ** 2``.
        viewmats: World-to-camera matrices ``[C, 4, 4]`` (OpenCV: x right, y down, z forward).
        Ks: Intrinsics ``[C, 3, 3]`` in pixels.
        width: Image width W in pixels.
        height: Image height H in pixels.
        near_plane: Gaussians at depth <= this are culled.
        far_plane: Gaussians at depth >= this are culled.
        radius_clip: Cull Gaussians whose screen radius is at most this many pixels.
        eps2d: Variance in pixels^2 added to every 2D covariance.
        sh_degree: Spherical harmonics degree 0..3 to evaluate, or None for plain colors.
        backgrounds: Background colors ``[C, D]`` added where the image is not opaque.
        render_mode: ``"RGB"`` colors; ``"D"`` accumulated depth; ``"ED"`` expected depth
            (depth / alpha); ``"RGB+D"`` and ``"RGB+ED"`` append the depth channel.
        rasterize_mode: ``"antialiased"`` scales opacities by the eps2d compensation factor.
        tile_size: Tile side in pixels.
        backend: ``"auto"`` picks gsplat for CUDA tensors and PyTorch otherwise.
        chunk_size: PyTorch backend only: Gaussians per tile composited per step.

    Returns:
        ``(render_colors [C, H, W, D'], render_alphas [C, H, W, 1], info)``. ``info`` contains
        ``means2d [C, N, 2]`` (keeps its gradient after ``retain_grad()``), ``radii [C, N, 2]``
        (int32, 0 = culled), ``depths [C, N]``, ``conics [C, N, 3]``, ``opacities [C, N]``,
        ``width``, ``height``, ``n_cameras``, ``tile_size`` and ``backend``.

    Raises:
        ValueError: If a shape, the device mix, ``render_mode`` or ``rasterize_mode`` is invalid.
        ImportError: If CUDA tensors are given and gsplat is not installed.
    """
    if render_mode not in ("RGB", "D", "ED", "RGB+D", "RGB+ED"):
        raise ValueError(f"render_mode must be RGB, D, ED, RGB+D or RGB+ED, got {render_mode!r}")
    if rasterize_mode not in ("classic", "antialiased"):
        raise ValueError(
            f"rasterize_mode must be 'classic' or 'antialiased', got {rasterize_mode!r}"
        )
    _check_inputs(means, quats, scales, opacities, colors, viewmats, Ks, width, height, sh_degree)
    chosen = select_backend(means.device, backend)
    options = {
        "near_plane": near_plane,
        "far_plane": far_plane,
        "radius_clip": radius_clip,
        "eps2d": eps2d,
        "sh_degree": sh_degree,
        "backgrounds": backgrounds,
        "render_mode": render_mode,
        "rasterize_mode": rasterize_mode,
        "tile_size": tile_size,
    }
    args = (means, quats, scales, opacities, colors, viewmats, Ks, width, height)
    if chosen == "gsplat":
        return _rasterize_gsplat(*args, **options)
    return _rasterize_torch(*args, chunk_size=chunk_size, **options)


def _rasterize_gsplat(
    means: Tensor,
    quats: Tensor,
    scales: Tensor,
    opacities: Tensor,
    colors: Tensor,
    viewmats: Tensor,
    Ks: Tensor,
    width: int,
    height: int,
    **options: Any,
) -> tuple[Tensor, Tensor, dict[str, Any]]:
    try:
        from gsplat import rasterization
    except ImportError as err:
        raise ImportError(
            "rendering CUDA tensors needs gsplat; install it with `pip install spike-3dgs[cuda]`, "
            "or move the tensors to the CPU to use the PyTorch backend"
        ) from err
    render_colors, render_alphas, info = rasterization(
        means,
        quats,
        scales,
        opacities,
        colors,
        viewmats,
        Ks,
        width,
        height,
        packed=False,
        **options,
    )
    info["backend"] = "gsplat"
    return render_colors, render_alphas, info


def _rasterize_torch(
    means: Tensor,
    quats: Tensor,
    scales: Tensor,
    opacities: Tensor,
    colors: Tensor,
    viewmats: Tensor,
    Ks: Tensor,
    width: int,
    height: int,
    *,
    near_plane: float,
    far_plane: float,
    radius_clip: float,
    eps2d: float,
    sh_degree: int | None,
    backgrounds: Tensor | None,
    render_mode: RenderMode,
    rasterize_mode: RasterizeMode,
    tile_size: int,
    chunk_size: int,
) -> tuple[Tensor, Tensor, dict[str, Any]]:
    num_cameras = viewmats.shape[0]

    # 1. Projection to screen space.
    projection = project_gaussians(
        means,
        quats,
        scales,
        opacities,
        viewmats,
        Ks,
        width,
        height,
        near_plane=near_plane,
        far_plane=far_plane,
        eps2d=eps2d,
        radius_clip=radius_clip,
        antialiased=rasterize_mode == "antialiased",
    )

    # 2. Per-camera colors: spherical harmonics seen from each camera centre, or given colors.
    if sh_degree is not None:
        camera_centres = torch.linalg.inv(viewmats)[:, :3, 3]  # [C, 3]
        dirs = means[None, :, :] - camera_centres[:, None, :]  # [C, N, 3]
        features = sh_to_color(sh_degree, dirs, colors.unsqueeze(0).expand(num_cameras, -1, -1, -1))
    elif colors.dim() == 2:
        features = colors.unsqueeze(0).expand(num_cameras, -1, -1)
    else:
        features = colors
    depth_channel = projection.depths.unsqueeze(-1)
    if render_mode in ("RGB+D", "RGB+ED"):
        features = torch.cat([features, depth_channel], dim=-1)
    elif render_mode in ("D", "ED"):
        features = depth_channel
    if backgrounds is not None and render_mode in ("RGB+D", "RGB+ED"):
        backgrounds = torch.cat([backgrounds, backgrounds.new_zeros(num_cameras, 1)], dim=-1)
    elif render_mode in ("D", "ED"):
        backgrounds = None

    # 3. Tile binning and front-to-back compositing.
    bins = bin_gaussians(
        projection.means2d, projection.radii, projection.depths, width, height, tile_size
    )
    image, transmittance = composite_tiles(
        bins,
        projection.means2d,
        projection.conics,
        projection.opacities,
        features.to(means.dtype),
        width,
        height,
        tile_size,
        chunk_size=chunk_size,
    )
    alphas = (1.0 - transmittance).unsqueeze(-1)
    if backgrounds is not None:
        if tuple(backgrounds.shape) != (num_cameras, image.shape[-1]):
            raise ValueError(
                f"backgrounds must be [C, D] = [{num_cameras}, {image.shape[-1]}], "
                f"got {list(backgrounds.shape)}"
            )
        image = image + transmittance.unsqueeze(-1) * backgrounds[:, None, None, :]
    if render_mode in ("ED", "RGB+ED"):
        expected_depth = image[..., -1:] / alphas.clamp(min=1e-10)
        image = torch.cat([image[..., :-1], expected_depth], dim=-1)

    info = {
        "means2d": projection.means2d,
        "radii": projection.radii,
        "depths": projection.depths,
        "conics": projection.conics,
        "opacities": projection.opacities,
        "width": width,
        "height": height,
        "n_cameras": num_cameras,
        "tile_size": tile_size,
        "tile_width": bins.tiles_x,
        "tile_height": bins.tiles_y,
        # Non-packed mode, as gsplat reports it: no per-intersection index lists.
        "camera_ids": None,
        "gaussian_ids": None,
        "backend": "torch",
    }
    return image, alphas, info
