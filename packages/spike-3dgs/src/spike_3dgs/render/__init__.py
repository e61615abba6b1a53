"""Gaussian splatting renderer with a gsplat backend on CUDA and a PyTorch backend elsewhere."""

from spike_3dgs.render.projection import Projection, project_gaussians, quat_to_rotmat
from spike_3dgs.render.rasterize import rasterize, select_backend
from spike_3dgs.render.sh import sh_to_color, spherical_harmonics_basis

__all__ = [
    "Projection",
    "project_gaussians",
    "quat_to_rotmat",
    "rasterize",
    "select_backend",
    "sh_to_color",
    "spherical_harmonics_basis",
]
