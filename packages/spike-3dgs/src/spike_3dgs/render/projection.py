"""Project 3D Gaussians to 2D screen-space Gaussians with the EWA (local affine) approximation.

Source: Zwicker et al., "EWA Splatting" (2002), as used by Kerbl et al., "3D Gaussian Splatting for
Real-Time Radiance Field Rendering" (2023). The world covariance ``R S S^T R^T`` is moved to camera
space with the view rotation W and projected with the Jacobian J of the pinhole projection at the
Gaussian's mean: ``Sigma_2d = J W Sigma W^T J^T + eps2d * I``. The culling rules and the bounding
radii follow gsplat 1.5 so both rendering backends bin the same Gaussians.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["ALPHA_THRESHOLD", "MAX_EXTEND", "Projection", "project_gaussians", "quat_to_rotmat"]

# Alpha below which a Gaussian is skipped at a pixel (1/255, one 8-bit level).
ALPHA_THRESHOLD = 1.0 / 255.0
# Largest bounding radius in standard deviations (gsplat uses 3.33).
MAX_EXTEND = 3.33


@dataclass
class Projection:
    """Screen-space Gaussians of C cameras.

    Attributes:
        means2d: Pixel coordinates of the means ``[C, N, 2]`` (x right, y down).
        conics: Upper triangle ``(a, b, c)`` of the inverse 2D covariance ``[C, N, 3]``.
        depths: Camera-space z of the means ``[C, N]``.
        radii: Bounding half-extents in pixels ``[C, N, 2]`` (int32, x then y); 0 marks a culled
            Gaussian.
        opacities: Per-camera opacities ``[C, N]`` (multiplied by the antialiasing compensation in
            ``"antialiased"`` mode).
    """

    means2d: Tensor
    conics: Tensor
    depths: Tensor
    radii: Tensor
    opacities: Tensor


def quat_to_rotmat(quats: Tensor) -> Tensor:
    """Convert quaternions ``[..., 4]`` in (w, x, y, z) order to rotation matrices ``[..., 3, 3]``.

    The quaternions are normalized first, so any non-zero scale is accepted.
    """
    w, x, y, z = F.normalize(quats, dim=-1).unbind(-1)
    rows = [
        1 - 2 * (y * y + z * z),
        2 * (x * y - w * z),
        2 * (x * z + w * y),
        2 * (x * y + w * z),
        1 - 2 * (x * x + z * z),
        2 * (y * z - w * x),
        2 * (x * z - w * y),
        2 * (y * z + w * x),
        1 - 2 * (x * x + y * y),
    ]
    return torch.stack(rows, dim=-1).reshape(*quats.shape[:-1], 3, 3)


def project_gaussians(
    means: Tensor,
    quats: Tensor,
    scales: Tensor,
    opacities: Tensor,
    viewmats: Tensor,
    Ks: Tensor,
    width: int,
    height: int,
    *,
    near_plane: float = 0.01,
    far_plane: float = 1e10,
    eps2d: float = 0.3,
    radius_clip: float = 0.0,
    antialiased: bool = False,
) -> Projection:
    """Project N Gaussians into C pinhole cameras.

    A Gaussian is culled (radii 0) when its depth is outside ``(near_plane, far_plane)``, its 2D
    covariance is degenerate, its opacity is below 1/255, both radii are at most ``radius_clip``, or
    its bounding box misses the image. The bounding radius per axis is ``ceil(k * sqrt(Sigma_ii))``
    with ``k = min(3.33, sqrt(2 ln(255 * opacity)))``, the distance at which alpha falls to 1/255.

    Args:
        means: World-space means ``[N, 3]``.
        quats: Rotations ``[N, 4]`` (w, x, y, z), any non-zero norm.
        scales: Standard deviations along the rotated axes ``[N, 3]`` (not log scales).
        opacities: Opacities in [0, 1] ``[N]`` (after the sigmoid).
        viewmats: World-to-camera matrices ``[C, 4, 4]`` (OpenCV convention: x right, y down,
            z forward).
        Ks: Intrinsics ``[C, 3, 3]`` in pixels.
        width: Image width W in pixels.
        height: Image height H in pixels.
        near_plane: Minimum depth.
        far_plane: Maximum depth.
        eps2d: Variance in pixels^2 added to the 2D covariance (a low-pass filter).
        radius_clip: Cull Gaussians whose radii are both at most this many pixels.
        antialiased: Multiply opacities by ``sqrt(det(Sigma_2d) / det(Sigma_2d + eps2d I))`` so the
            blur added by ``eps2d`` does not brighten small Gaussians.

    Returns:
        A :class:`Projection`.
    """
    num_cameras = viewmats.shape[0]
    rotation = viewmats[:, :3, :3]  # [C, 3, 3]
    translation = viewmats[:, :3, 3]  # [C, 3]

    # 1. Camera-space means and covariances.
    means_c = torch.einsum("cij,nj->cni", rotation, means) + translation[:, None, :]  # [C, N, 3]
    scaled_rot = quat_to_rotmat(quats) * scales[:, None, :]  # [N, 3, 3] = R S
    covars = scaled_rot @ scaled_rot.transpose(-1, -2)  # [N, 3, 3]
    covars_c = torch.einsum("cij,njk,clk->cnil", rotation, covars, rotation)  # [C, N, 3, 3]

    # 2. Jacobian of the pinhole projection at the mean (EWA). The mean's x/z and y/z are clamped
    # to 1.3 times the field of view, as gsplat does, so Gaussians far off-screen do not blow up.
    depths = means_c[..., 2]
    in_depth = (depths > near_plane) & (depths < far_plane)
    z = torch.where(in_depth, depths, torch.ones_like(depths))  # safe divisor for culled ones
    fx, fy = Ks[:, 0, 0, None], Ks[:, 1, 1, None]  # [C, 1]
    cx, cy = Ks[:, 0, 2, None], Ks[:, 1, 2, None]
    tan_fovx, tan_fovy = 0.5 * width / fx, 0.5 * height / fy
    x_over_z = torch.minimum(
        torch.maximum(means_c[..., 0] / z, -(cx / fx + 0.3 * tan_fovx)),
        (width - cx) / fx + 0.3 * tan_fovx,
    )
    y_over_z = torch.minimum(
        torch.maximum(means_c[..., 1] / z, -(cy / fy + 0.3 * tan_fovy)),
        (height - cy) / fy + 0.3 * tan_fovy,
    )
    zeros = torch.zeros_like(z)
    jacobian = torch.stack(
        [fx / z, zeros, -fx * x_over_z / z, zeros, fy / z, -fy * y_over_z / z], dim=-1
    ).reshape(num_cameras, -1, 2, 3)
    cov2d = jacobian @ covars_c @ jacobian.transpose(-1, -2)  # [C, N, 2, 2]

    # 3. Low-pass filter, inverse covariance (conic) and antialiasing compensation.
    c00, c01, c11 = cov2d[..., 0, 0], 0.5 * (cov2d[..., 0, 1] + cov2d[..., 1, 0]), cov2d[..., 1, 1]
    det_orig = c00 * c11 - c01 * c01
    c00, c11 = c00 + eps2d, c11 + eps2d
    det = c00 * c11 - c01 * c01
    valid = in_depth & (det > 0)
    safe_det = torch.where(valid, det, torch.ones_like(det))
    conics = torch.stack([c11 / safe_det, -c01 / safe_det, c00 / safe_det], dim=-1)
    opacities_c = opacities.unsqueeze(0).expand(num_cameras, -1)
    if antialiased:
        compensation = torch.sqrt(torch.clamp(det_orig / safe_det, min=0.0))
        opacities_c = opacities_c * compensation

    means2d = torch.stack([fx * means_c[..., 0] / z + cx, fy * means_c[..., 1] / z + cy], dim=-1)

    # 4. Opacity-aware bounding radii and culling (no gradient).
    with torch.no_grad():
        opacity = opacities_c.detach()
        valid = valid & (opacity >= ALPHA_THRESHOLD)
        extend = torch.sqrt(2.0 * torch.log(torch.clamp(opacity / ALPHA_THRESHOLD, min=1.0)))
        extend = torch.clamp(extend, max=MAX_EXTEND)
        radius_x = torch.ceil(extend * torch.sqrt(torch.clamp(c00.detach(), min=0.0)))
        radius_y = torch.ceil(extend * torch.sqrt(torch.clamp(c11.detach(), min=0.0)))
        valid &= (radius_x > radius_clip) | (radius_y > radius_clip)
        mx, my = means2d[..., 0].detach(), means2d[..., 1].detach()
        valid &= (mx + radius_x > 0) & (mx - radius_x < width)
        valid &= (my + radius_y > 0) & (my - radius_y < height)
        valid &= torch.isfinite(radius_x) & torch.isfinite(radius_y)
        radii = torch.stack([radius_x, radius_y], dim=-1)
        radii = torch.where(valid.unsqueeze(-1), radii, torch.zeros_like(radii))
        radii = torch.nan_to_num(radii, nan=0.0).to(torch.int32)

    return Projection(means2d, conics, depths, radii, opacities_c)
