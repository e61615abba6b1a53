"""Real spherical harmonics up to degree 3, in the basis order and signs of 3D Gaussian Splatting.

Colors are ``sum_k c_k * Y_k(d) + 0.5``, clamped at 0 from below, where ``d`` is the unit direction
from the camera centre to the Gaussian. The constants are the normalization factors of the real
spherical harmonics, as in Kerbl et al., "3D Gaussian Splatting for Real-Time Radiance Field
Rendering" (SIGGRAPH 2023) and gsplat.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["num_sh_bases", "sh_to_color", "spherical_harmonics_basis"]

_C0 = 0.28209479177387814
_C1 = 0.4886025119029199
_C2 = (
    1.0925484305920792,
    -1.0925484305920792,
    0.31539156525252005,
    -1.0925484305920792,
    0.5462742152960396,
)
_C3 = (
    -0.5900435899266435,
    2.890611442640554,
    -0.4570457994644658,
    0.3731763325901154,
    -0.4570457994644658,
    1.445305721320277,
    -0.5900435899266435,
)


def num_sh_bases(degree: int) -> int:
    """Return the number of basis functions up to ``degree``: ``(degree + 1) ** 2``."""
    return (degree + 1) ** 2


def spherical_harmonics_basis(degree: int, dirs: Tensor) -> Tensor:
    """Evaluate the real spherical harmonics basis at unit directions.

    Args:
        degree: Highest degree, 0 to 3.
        dirs: Unit directions ``[..., 3]``.

    Returns:
        Basis values ``[..., (degree + 1) ** 2]``.

    Raises:
        ValueError: If ``degree`` is outside 0..3.
    """
    if not 0 <= degree <= 3:
        raise ValueError(f"sh degree must be 0..3, got {degree}")
    x, y, z = dirs.unbind(-1)
    bases = [torch.full_like(x, _C0)]
    if degree >= 1:
        bases += [-_C1 * y, _C1 * z, -_C1 * x]
    if degree >= 2:
        xx, yy, zz = x * x, y * y, z * z
        bases += [
            _C2[0] * x * y,
            _C2[1] * y * z,
            _C2[2] * (2.0 * zz - xx - yy),
            _C2[3] * x * z,
            _C2[4] * (xx - yy),
        ]
    if degree >= 3:
        bases += [
            _C3[0] * y * (3.0 * xx - yy),
            _C3[1] * x * y * z,
            _C3[2] * y * (4.0 * zz - xx - yy),
            _C3[3] * z * (2.0 * zz - 3.0 * xx - 3.0 * yy),
            _C3[4] * x * (4.0 * zz - xx - yy),
            _C3[5] * z * (xx - yy),
            _C3[6] * x * (xx - 3.0 * yy),
        ]
    return torch.stack(bases, dim=-1)


def sh_to_color(degree: int, dirs: Tensor, coeffs: Tensor) -> Tensor:
    """Turn spherical harmonics coefficients into colors seen along ``dirs``.

    Args:
        degree: Highest degree used, 0 to 3; coefficients beyond ``(degree + 1) ** 2`` are ignored.
        dirs: View directions ``[..., 3]`` (normalized here).
        coeffs: Coefficients ``[..., K, D]`` with ``K >= (degree + 1) ** 2``.

    Returns:
        Colors ``[..., D]``: ``sum_k coeffs_k * Y_k + 0.5``, clamped at 0 from below.

    Raises:
        ValueError: If there are fewer than ``(degree + 1) ** 2`` coefficients.
    """
    count = num_sh_bases(degree)
    if coeffs.shape[-2] < count:
        raise ValueError(
            f"sh degree {degree} needs {count} coefficients per Gaussian, got {coeffs.shape[-2]}"
        )
    basis = spherical_harmonics_basis(degree, F.normalize(dirs, dim=-1))
    colors = (basis.unsqueeze(-1) * coeffs[..., :count, :]).sum(-2)
    return torch.clamp_min(colors + 0.5, 0.0)
