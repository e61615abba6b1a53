"""gsplat's DefaultStrategy densifies and prunes Gaussians rendered by the CPU backend.

Runs only where gsplat is importable (it is an optional extra); gsplat's strategy code itself runs
on CPU tensors.
"""

from __future__ import annotations

import math

import pytest
import torch

from spike_3dgs.render import rasterize


def test_default_strategy_on_cpu_fit() -> None:
    strategy_module = pytest.importorskip(
        "gsplat.strategy", reason="needs gsplat (spike-3dgs[cuda])"
    )
    torch.manual_seed(0)
    size, n = 32, 200
    # Target: a bright disc on a dark background, seen by one camera 3 units away.
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    disc = (((xx - 16) ** 2 + (yy - 16) ** 2) < 64).float()
    target = disc[None, :, :, None].expand(1, size, size, 3)
    viewmat = torch.eye(4)[None]
    K = torch.tensor([[[40.0, 0.0, 16.0], [0.0, 40.0, 16.0], [0.0, 0.0, 1.0]]])

    params = torch.nn.ParameterDict(
        {
            "means": torch.nn.Parameter(torch.randn(n, 3) * 0.6 + torch.tensor([0.0, 0.0, 3.0])),
            "quats": torch.nn.Parameter(torch.randn(n, 4)),
            "scales": torch.nn.Parameter(torch.full((n, 3), math.log(0.05))),
            "opacities": torch.nn.Parameter(torch.full((n,), 0.0)),
            "colors": torch.nn.Parameter(torch.zeros(n, 3)),
        }
    )
    optimizers = {name: torch.optim.Adam([param], lr=0.01) for name, param in params.items()}
    strategy = strategy_module.DefaultStrategy(
        refine_start_iter=10, refine_every=10, reset_every=1000, grow_grad2d=1e-5, verbose=False
    )
    strategy.check_sanity(params, optimizers)
    state = strategy.initialize_state()

    losses = []
    for step in range(25):
        image, _, info = rasterize(
            params["means"],
            params["quats"],
            torch.exp(params["scales"]),
            torch.sigmoid(params["opacities"]),
            torch.sigmoid(params["colors"]),
            viewmat,
            K,
            size,
            size,
        )
        loss = torch.nn.functional.l1_loss(image, target)
        strategy.step_pre_backward(params, optimizers, state, step, info)
        loss.backward()
        for optimizer in optimizers.values():
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        strategy.step_post_backward(params, optimizers, state, step, info, packed=False)
        losses.append(loss.item())

    assert params["means"].shape[0] != n  # the strategy duplicated, split or pruned Gaussians
    assert losses[-1] < 0.8 * losses[0]
