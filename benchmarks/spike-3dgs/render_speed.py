"""Time the PyTorch (CPU) Gaussian renderer: forward plus backward of one 128x128 view.

The scene is N random Gaussians in front of one camera: means in a 2 x 2 x 1 box at depth 5, focal
150 px, scales 0.01 to 0.06, opacities 0.1 to 0.9 and RGB colors. Most of them are visible, with
screen radii of about 4 px. Each run renders, sums the image and backpropagates into all Gaussian
parameters. The median of ``--repeats`` runs after one warm-up run is reported, as wall time and as the
process's CPU time, with the 1-minute load average of the machine.

Usage::

    python benchmarks/spike-3dgs/render_speed.py --gaussians 10000 --size 128 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from spike_3dgs.render import rasterize
from spike_3dgs.render.cpu_backend import bin_gaussians


def make_scene(
    num_gaussians: int, size: int, seed: int
) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
    """Return the Gaussian parameters, view matrix [1, 4, 4] and intrinsics [1, 3, 3]."""
    generator = torch.Generator().manual_seed(seed)
    means = torch.randn(num_gaussians, 3, generator=generator) * torch.tensor([1.0, 1.0, 0.5])
    means = means + torch.tensor([0.0, 0.0, 5.0])
    quats = torch.randn(num_gaussians, 4, generator=generator)
    scales = torch.rand(num_gaussians, 3, generator=generator) * 0.05 + 0.01
    opacities = torch.rand(num_gaussians, generator=generator) * 0.8 + 0.1
    colors = torch.rand(num_gaussians, 3, generator=generator)
    viewmat = torch.eye(4)[None]
    focal = 150.0 * size / 128
    K = torch.tensor([[[focal, 0.0, size / 2], [0.0, focal, size / 2], [0.0, 0.0, 1.0]]])
    return [means, quats, scales, opacities, colors], viewmat, K


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gaussians", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=128, help="image width and height in pixels")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--tile-size", type=int, default=16)
    parser.add_argument("--chunk-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="write the results JSON here")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    params, viewmat, K = make_scene(args.gaussians, args.size, args.seed)
    forward_times, total_times, cpu_times = [], [], []
    for run in range(args.repeats + 1):
        leaves = [p.clone().requires_grad_(True) for p in params]
        cpu_start = time.process_time()
        start = time.perf_counter()
        image, _, info = rasterize(
            *leaves,
            viewmat,
            K,
            args.size,
            args.size,
            tile_size=args.tile_size,
            chunk_size=args.chunk_size,
        )
        forward_end = time.perf_counter()
        image.sum().backward()
        end = time.perf_counter()
        cpu_end = time.process_time()
        if run > 0:  # the first run is a warm-up
            forward_times.append(forward_end - start)
            total_times.append(end - start)
            cpu_times.append(cpu_end - cpu_start)

    visible = int((info["radii"] > 0).all(-1).sum())
    bins = bin_gaussians(
        info["means2d"], info["radii"], info["depths"], args.size, args.size, args.tile_size
    )
    results = {
        "gaussians": args.gaussians,
        "visible": visible,
        "tile_gaussian_pairs": int(bins.counts.sum()),
        "image": f"{args.size}x{args.size}",
        "tile_size": args.tile_size,
        "chunk_size": args.chunk_size,
        "threads": args.threads,
        "forward_median_s": statistics.median(forward_times),
        "forward_backward_median_s": statistics.median(total_times),
        "forward_backward_all_s": [round(t, 4) for t in total_times],
        # CPU time of this process summed over its threads; other jobs on the machine inflate the
        # wall time but not this.
        "forward_backward_cpu_median_s": statistics.median(cpu_times),
        "load_average_1min": os.getloadavg()[0],
        "machine": f"{platform.machine()}, {platform.processor() or 'unknown CPU'}",
        "torch": torch.__version__,
    }
    print(json.dumps(results, indent=2))
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
