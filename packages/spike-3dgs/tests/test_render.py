"""Gaussian renderer: analytic images, culling, gradients, backend choice and the gsplat match."""

from __future__ import annotations

import math

import pytest
import torch

from spike_3dgs.render import rasterize, select_backend, sh_to_color, spherical_harmonics_basis
from spike_3dgs.render.cpu_backend import bin_gaussians


def _camera(width: int, height: int, focal: float = 100.0, dtype=torch.float32):
    viewmat = torch.eye(4, dtype=dtype)[None]
    K = torch.tensor(
        [[[focal, 0.0, width / 2], [0.0, focal, height / 2], [0.0, 0.0, 1.0]]], dtype=dtype
    )
    return viewmat, K


def _identity_quats(n: int, dtype=torch.float32) -> torch.Tensor:
    quats = torch.zeros(n, 4, dtype=dtype)
    quats[:, 0] = 1.0
    return quats


def test_single_gaussian_peak_and_falloff() -> None:
    # An isotropic Gaussian at depth 1 straight ahead. With focal 100 px its screen variance is
    # (100 s)^2 + eps2d; s is chosen so that this is exactly 4 px^2, i.e. one sigma = 2 px.
    width = height = 64
    viewmat, K = _camera(width, height)
    K[0, 0, 2] = K[0, 1, 2] = 32.5  # the mean sits on the centre of pixel (32, 32)
    scale = math.sqrt(4.0 - 0.3) / 100.0
    means = torch.tensor([[0.0, 0.0, 1.0]])
    opacity = torch.tensor([0.8])
    colors = torch.tensor([[1.0, 0.5, 0.25]])
    image, alpha, info = rasterize(
        means,
        _identity_quats(1),
        torch.full((1, 3), scale),
        opacity,
        colors,
        viewmat,
        K,
        width,
        height,
    )
    assert image.shape == (1, height, width, 3)
    assert alpha.shape == (1, height, width, 1)
    # Peak: alpha = opacity, color = opacity * color.
    assert alpha[0, 32, 32, 0].item() == pytest.approx(0.8, rel=1e-5)
    torch.testing.assert_close(image[0, 32, 32], 0.8 * colors[0], rtol=1e-5, atol=1e-6)
    # One sigma (2 px) away along x and along y: opacity * exp(-1/2).
    assert alpha[0, 32, 34, 0].item() == pytest.approx(0.8 * math.exp(-0.5), rel=1e-4)
    assert alpha[0, 30, 32, 0].item() == pytest.approx(0.8 * math.exp(-0.5), rel=1e-4)
    # Diagonal (2, 2) px: exp(-(4 + 4) / (2 * 4)).
    assert alpha[0, 34, 34, 0].item() == pytest.approx(0.8 * math.exp(-1.0), rel=1e-4)
    # The mean and the bounding radius ceil(k * 2 px) with k = min(3.33, sqrt(2 ln(255 o))).
    torch.testing.assert_close(info["means2d"][0, 0], torch.tensor([32.5, 32.5]))
    extend = min(3.33, math.sqrt(2 * math.log(0.8 * 255)))
    assert info["radii"][0, 0].tolist() == [math.ceil(extend * 2.0)] * 2
    # Far outside the footprint the image is empty (alpha < 1/255 is skipped).
    assert alpha[0, 0, 0, 0].item() == 0.0


def test_front_gaussian_occludes_back() -> None:
    width = height = 32
    viewmat, K = _camera(width, height)
    means = torch.tensor([[0.0, 0.0, 2.0], [0.0, 0.0, 1.0]])  # second is in front
    scales = torch.full((2, 3), 0.2)
    colors = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    opacities = torch.tensor([0.9, 0.5])
    image, alpha, _ = rasterize(
        means, _identity_quats(2), scales, opacities, colors, viewmat, K, width, height
    )
    centre = image[0, 16, 16]
    # Front (blue) adds 0.5 * 1; the back (red) is seen through T = 0.5 and adds ~0.45.
    assert centre[2].item() == pytest.approx(0.5, abs=0.01)
    assert centre[0].item() == pytest.approx(0.5 * 0.9, abs=0.02)
    assert alpha[0, 16, 16, 0].item() == pytest.approx(1 - 0.5 * 0.1, abs=0.02)


def test_early_termination_stops_compositing() -> None:
    # Two Gaussians of alpha 0.999 at the centre pixel: after the first T = 1e-3, the second would
    # bring T to 1e-6 <= 1e-4, so the pixel stops and the second (colored) one is not added.
    width = height = 16
    viewmat, K = _camera(width, height)
    K[0, 0, 2] = K[0, 1, 2] = 8.5
    means = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 2.0], [0.0, 0.0, 3.0]])
    colors = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [100.0, 100.0, 100.0]])
    image, alpha, _ = rasterize(
        means,
        _identity_quats(3),
        torch.full((3, 3), 0.05),
        torch.ones(3),  # clamped to alpha 0.999
        colors,
        viewmat,
        K,
        width,
        height,
    )
    assert image[0, 8, 8].abs().max().item() == 0.0
    assert alpha[0, 8, 8, 0].item() == pytest.approx(0.999, rel=1e-6)


def test_background_fills_transparent_pixels() -> None:
    width = height = 8
    viewmat, K = _camera(width, height)
    background = torch.tensor([[0.2, 0.4, 0.6]])
    image, alpha, info = rasterize(
        torch.zeros(0, 3),
        torch.zeros(0, 4),
        torch.zeros(0, 3),
        torch.zeros(0),
        torch.zeros(0, 3),
        viewmat,
        K,
        width,
        height,
        backgrounds=background,
    )
    assert info["radii"].shape == (1, 0, 2)
    assert torch.equal(alpha, torch.zeros(1, height, width, 1))
    assert torch.allclose(image, background.view(1, 1, 1, 3).expand(1, height, width, 3))


@pytest.mark.parametrize(
    "mean",
    [
        [0.0, 0.0, -1.0],  # behind the camera
        [0.0, 0.0, 0.001],  # in front of the near plane
        [50.0, 0.0, 1.0],  # far right of the image
        [0.0, -50.0, 1.0],  # far above
    ],
)
def test_culled_gaussian_renders_background(mean: list[float]) -> None:
    width = height = 16
    viewmat, K = _camera(width, height)
    means = torch.tensor([mean], requires_grad=True)
    background = torch.tensor([[0.1, 0.2, 0.3]])
    image, _, info = rasterize(
        means,
        _identity_quats(1),
        torch.full((1, 3), 0.05),
        torch.tensor([0.9]),
        torch.ones(1, 3),
        viewmat,
        K,
        width,
        height,
        backgrounds=background,
    )
    assert info["radii"].abs().sum().item() == 0
    assert torch.allclose(image, background.view(1, 1, 1, 3).expand_as(image))
    image.sum().backward()
    assert torch.isfinite(means.grad).all()
    assert means.grad.abs().sum().item() == 0.0


def test_transparent_gaussian_is_culled() -> None:
    width = height = 16
    viewmat, K = _camera(width, height)
    _, alpha, info = rasterize(
        torch.tensor([[0.0, 0.0, 1.0]]),
        _identity_quats(1),
        torch.full((1, 3), 0.05),
        torch.tensor([1.0 / 300.0]),
        torch.ones(1, 3),
        viewmat,
        K,
        width,
        height,
    )
    assert info["radii"].sum().item() == 0
    assert alpha.sum().item() == 0.0


def _tiny_scene(dtype=torch.float64):
    torch.manual_seed(0)
    n = 4
    means = torch.tensor(
        [[0.0, 0.0, 2.0], [0.05, -0.03, 2.3], [-0.04, 0.02, 1.8], [0.02, 0.04, 2.6]], dtype=dtype
    )
    quats = torch.randn(n, 4, dtype=dtype)
    scales = torch.tensor(
        [[0.04, 0.03, 0.05], [0.05, 0.04, 0.03], [0.03, 0.05, 0.04], [0.06, 0.05, 0.04]],
        dtype=dtype,
    )
    opacities = torch.tensor([0.6, 0.5, 0.7, 0.4], dtype=dtype)
    colors = torch.rand(n, 3, dtype=dtype)
    return means, quats, scales, opacities, colors


def test_gradcheck_tiny_scene() -> None:
    # A 12x10 image inside one tile, so no tile assignment changes under the finite differences.
    width, height = 12, 10
    viewmat, K = _camera(width, height, focal=60.0, dtype=torch.float64)
    inputs = [t.requires_grad_(True) for t in _tiny_scene()]
    background = torch.tensor([[0.3, 0.1, 0.2]], dtype=torch.float64)

    # Random projections of the image and alpha keep the number of backward passes small.
    weights = torch.rand(
        3, height, width, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1)
    )

    def render(means, quats, scales, opacities, colors):
        image, alpha, _ = rasterize(
            means,
            quats,
            scales,
            opacities,
            colors,
            viewmat,
            K,
            width,
            height,
            backgrounds=background,
        )
        rgba = torch.cat([image, alpha], dim=-1)[0]
        return (weights * rgba).sum(dim=(1, 2, 3))

    assert torch.autograd.gradcheck(render, inputs, eps=1e-6, atol=1e-5, rtol=1e-4)


def test_gradcheck_spherical_harmonics_and_chunks() -> None:
    # Degree-3 SH colors, chunk_size 2 so compositing spans several chunks.
    width, height = 12, 10
    viewmat, K = _camera(width, height, focal=60.0, dtype=torch.float64)
    means, quats, scales, opacities, _ = _tiny_scene()
    sh = 0.3 * torch.randn(4, 16, 3, dtype=torch.float64)
    inputs = [t.requires_grad_(True) for t in (means, opacities, sh)]

    weights = torch.rand(
        3, height, width, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2)
    )

    def render(means, opacities, sh):
        image, _, _ = rasterize(
            means,
            quats,
            scales,
            opacities,
            sh,
            viewmat,
            K,
            width,
            height,
            sh_degree=3,
            chunk_size=2,
        )
        return (weights * image[0]).sum(dim=(1, 2, 3))

    assert torch.autograd.gradcheck(render, inputs, eps=1e-6, atol=1e-5, rtol=1e-4, fast_mode=True)


def test_gradients_match_across_tiles_and_chunk_sizes() -> None:
    # The same scene on a 40x36 image (several tiles) gives the same image and gradients whether the
    # tiles are 16 or 8 pixels wide and whatever the chunk size.
    width, height = 40, 36
    viewmat, K = _camera(width, height, focal=200.0, dtype=torch.float64)
    results = []
    for tile_size, chunk_size in [(16, 64), (8, 1), (16, 3)]:
        inputs = [t.clone().requires_grad_(True) for t in _tiny_scene()]
        image, _, _ = rasterize(
            *inputs, viewmat, K, width, height, tile_size=tile_size, chunk_size=chunk_size
        )
        (image * torch.linspace(0, 1, 3, dtype=torch.float64)).sum().backward()
        results.append((image.detach(), [t.grad for t in inputs]))
    for image, grads in results[1:]:
        torch.testing.assert_close(image, results[0][0])
        for grad, reference in zip(grads, results[0][1]):
            torch.testing.assert_close(grad, reference)


def test_info_feeds_densification() -> None:
    width = height = 32
    viewmat, K = _camera(width, height)
    means, quats, scales, opacities, colors = (
        t.float().requires_grad_(True) for t in _tiny_scene()
    )
    image, _, info = rasterize(means, quats, scales, opacities, colors, viewmat, K, width, height)
    assert info["radii"].shape == (1, 4, 2)
    assert info["radii"].dtype == torch.int32
    assert info["n_cameras"] == 1
    assert (info["width"], info["height"]) == (width, height)
    info["means2d"].retain_grad()
    image.sum().backward()
    assert info["means2d"].grad.shape == (1, 4, 2)
    assert info["means2d"].grad.abs().sum() > 0


def test_multiple_cameras_match_single_renders() -> None:
    width, height = 24, 20
    means, quats, scales, opacities, colors = (t.float() for t in _tiny_scene())
    viewmat, K = _camera(width, height)
    shifted = viewmat.clone()
    shifted[0, 0, 3] = 0.05
    both, _, _ = rasterize(
        means,
        quats,
        scales,
        opacities,
        colors,
        torch.cat([viewmat, shifted]),
        K.repeat(2, 1, 1),
        width,
        height,
    )
    for index, view in enumerate([viewmat, shifted]):
        single, _, _ = rasterize(means, quats, scales, opacities, colors, view, K, width, height)
        torch.testing.assert_close(both[index], single[0])


def test_depth_render_modes() -> None:
    width = height = 16
    viewmat, K = _camera(width, height)
    means = torch.tensor([[0.0, 0.0, 3.0]])
    args = (
        means,
        _identity_quats(1),
        torch.full((1, 3), 0.5),
        torch.tensor([0.9]),
        torch.ones(1, 3),
    )
    rgbd, alpha, _ = rasterize(*args, viewmat, K, width, height, render_mode="RGB+D")
    assert rgbd.shape[-1] == 4
    expected_depth, _, _ = rasterize(*args, viewmat, K, width, height, render_mode="ED")
    assert rgbd[0, 8, 8, 3].item() == pytest.approx(3.0 * alpha[0, 8, 8, 0].item(), rel=1e-5)
    assert expected_depth[0, 8, 8, 0].item() == pytest.approx(3.0, rel=1e-5)


def test_sh_degree_zero_is_constant_color() -> None:
    coeffs = torch.zeros(2, 1, 3)
    coeffs[:, 0] = torch.tensor([1.0, -1.0, 0.0])
    colors = sh_to_color(0, torch.randn(2, 3), coeffs)
    expected = torch.clamp_min(0.28209479177387814 * coeffs[:, 0] + 0.5, 0.0)
    torch.testing.assert_close(colors, expected)


def test_sh_basis_is_orthonormal() -> None:
    # Monte Carlo integral of Y_i Y_j over the sphere is the identity (scaled by 4 pi / samples).
    generator = torch.Generator().manual_seed(0)
    dirs = torch.nn.functional.normalize(
        torch.randn(400_000, 3, generator=generator, dtype=torch.float64), dim=-1
    )
    basis = spherical_harmonics_basis(3, dirs)
    gram = basis.T @ basis * (4 * math.pi / dirs.shape[0])
    torch.testing.assert_close(gram, torch.eye(16, dtype=torch.float64), atol=0.03, rtol=0)


def test_binning_lists_each_gaussian_in_its_tiles() -> None:
    means2d = torch.tensor([[[8.0, 8.0], [20.0, 8.0], [16.0, 16.0]]])
    radii = torch.tensor([[[3, 3], [3, 3], [4, 4]]], dtype=torch.int32)
    depths = torch.tensor([[1.0, 2.0, 0.5]])
    bins = bin_gaussians(means2d, radii, depths, 32, 32, 16)
    assert bins.counts.tolist() == [2, 2, 1, 1]
    # Tile 0 lists Gaussian 2 (depth 0.5) before Gaussian 0 (depth 1).
    assert bins.ids[0, :2].tolist() == [2, 0]


def test_backend_selected_by_device() -> None:
    assert select_backend(torch.device("cpu")) == "torch"
    assert select_backend(torch.device("cuda", 0)) == "gsplat"
    with pytest.raises(ValueError, match="renders only CUDA tensors"):
        select_backend(torch.device("cpu"), "gsplat")


def test_bad_shapes_raise() -> None:
    viewmat, K = _camera(8, 8)
    with pytest.raises(ValueError, match=r"quats must have shape \[2, 4\]"):
        rasterize(
            torch.zeros(2, 3),
            torch.zeros(3, 4),
            torch.zeros(2, 3),
            torch.zeros(2),
            torch.zeros(2, 3),
            viewmat,
            K,
            8,
            8,
        )
    with pytest.raises(ValueError, match="needs K >= 16"):
        rasterize(
            torch.zeros(2, 3),
            torch.zeros(2, 4),
            torch.zeros(2, 3),
            torch.zeros(2),
            torch.zeros(2, 9, 3),
            viewmat,
            K,
            8,
            8,
            sh_degree=3,
        )


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cpu_backend_matches_gsplat() -> None:
    pytest.importorskip("gsplat", reason="needs gsplat (pip install spike-3dgs[cuda])")
    torch.manual_seed(0)
    n, width, height = 500, 96, 80
    means = torch.randn(n, 3) * torch.tensor([0.6, 0.5, 0.3]) + torch.tensor([0.0, 0.0, 3.0])
    quats = torch.randn(n, 4)
    scales = torch.rand(n, 3) * 0.05 + 0.01
    opacities = torch.rand(n) * 0.8 + 0.1
    sh = torch.randn(n, 16, 3) * 0.3
    viewmats = torch.eye(4)[None].repeat(2, 1, 1)
    viewmats[1, 0, 3] = 0.1
    Ks = torch.tensor([[120.0, 0.0, 48.0], [0.0, 120.0, 40.0], [0.0, 0.0, 1.0]])[None].repeat(
        2, 1, 1
    )
    inputs = [means, quats, scales, opacities, sh]
    outputs = {}
    for device in ("cpu", "cuda"):
        leaves = [t.to(device).requires_grad_(True) for t in inputs]
        image, alpha, info = rasterize(
            *leaves, viewmats.to(device), Ks.to(device), width, height, sh_degree=3
        )
        assert info["backend"] == ("torch" if device == "cpu" else "gsplat")
        (image * image).sum().backward()
        outputs[device] = (
            image.detach().cpu(),
            alpha.detach().cpu(),
            info["radii"].cpu(),
            [t.grad.cpu() for t in leaves],
        )
    cpu, cuda = outputs["cpu"], outputs["cuda"]
    torch.testing.assert_close(cpu[0], cuda[0], atol=2e-3, rtol=1e-3)
    torch.testing.assert_close(cpu[1], cuda[1], atol=2e-3, rtol=1e-3)
    # Radii can differ where float32 rounding moves ceil(), but the same Gaussians are visible.
    assert torch.equal((cpu[2] > 0).all(-1), (cuda[2] > 0).all(-1))
    for grad_cpu, grad_cuda in zip(cpu[3], cuda[3]):
        scale = grad_cuda.abs().max().clamp(min=1e-6)
        assert ((grad_cpu - grad_cuda).abs().max() / scale).item() < 1e-2
