"""The CPU projection and spherical harmonics against gsplat's own PyTorch reference functions.

gsplat ships pure-PyTorch reference versions of its projection and spherical harmonics, which run
on CPU. These tests run only where gsplat is importable (it is an optional extra).
"""

from __future__ import annotations

import pytest
import torch

from spike_3dgs.render import project_gaussians, sh_to_color

reference = pytest.importorskip(
    "gsplat.cuda._torch_impl", reason="needs gsplat (pip install spike-3dgs[cuda])"
)


def _scene(n: int = 300):
    generator = torch.Generator().manual_seed(0)
    means = torch.randn(n, 3, generator=generator, dtype=torch.float64) * 0.7
    means[:, 2] += 3.0
    quats = torch.randn(n, 4, generator=generator, dtype=torch.float64)
    scales = torch.rand(n, 3, generator=generator, dtype=torch.float64) * 0.1 + 0.01
    viewmats = torch.eye(4, dtype=torch.float64)[None].repeat(2, 1, 1)
    viewmats[1, :3, 3] = torch.tensor([0.2, -0.1, 0.3], dtype=torch.float64)
    Ks = torch.tensor(
        [[90.0, 0.0, 40.0], [0.0, 95.0, 30.0], [0.0, 0.0, 1.0]], dtype=torch.float64
    ).repeat(2, 1, 1)
    return means, quats, scales, viewmats, Ks


def test_projection_matches_gsplat_reference() -> None:
    means, quats, scales, viewmats, Ks = _scene()
    covars, _ = reference._quat_scale_to_covar_preci(quats, scales, compute_preci=False)
    radii_ref, means2d_ref, depths_ref, conics_ref, comp_ref = reference._fully_fused_projection(
        means, covars, viewmats, Ks, 80, 60, calc_compensations=True
    )
    opacities = torch.full((means.shape[0],), 0.9, dtype=torch.float64)
    ours = project_gaussians(
        means, quats, scales, opacities, viewmats, Ks, 80, 60, antialiased=True
    )
    visible = (ours.radii > 0).all(-1) & (radii_ref > 0).reshape(*ours.radii.shape[:2], -1).all(-1)
    assert visible.sum() > 100
    torch.testing.assert_close(ours.means2d[visible], means2d_ref[visible])
    torch.testing.assert_close(ours.depths, depths_ref)
    torch.testing.assert_close(ours.conics[visible], conics_ref[visible])
    torch.testing.assert_close(ours.opacities[visible], 0.9 * comp_ref[visible])


@pytest.mark.parametrize("degree", [0, 1, 2, 3])
def test_spherical_harmonics_match_gsplat_reference(degree: int) -> None:
    generator = torch.Generator().manual_seed(degree)
    dirs = torch.randn(500, 3, generator=generator, dtype=torch.float64)
    coeffs = torch.randn(500, 16, 3, generator=generator, dtype=torch.float64)
    expected = torch.clamp_min(reference._spherical_harmonics(degree, dirs, coeffs) + 0.5, 0.0)
    torch.testing.assert_close(sh_to_color(degree, dirs, coeffs), expected)
