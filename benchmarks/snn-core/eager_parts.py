"""Time the parts the eager LIF kernels are built from: single operations, and the block size.

The first table times elementwise operations on one time step of the LIF benchmark
(``[B=32, C=128, H=16, W=16]``, 1 M float32 elements): boolean masks against float ones. The second
calls the eager forward and backward kernels on ``[T=8, B=32, C=128, H=16, W=16]`` with several
values of ``CPU_BLOCK_ELEMENTS``. Medians over --repeats runs, milliseconds.

    LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 \\
        MALLOC_CONF="dirty_decay_ms:-1,muzzy_decay_ms:-1" python benchmarks/snn-core/eager_parts.py
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable

import torch
from lif_speed import median_ms  # this folder is on sys.path when the script runs

from snn_core.neuron import fused_eager
from snn_core.neuron.fused import FusedSpec
from snn_core.surrogate import resolve_surrogate

STEP_SHAPE = (32, 128, 16, 16)
TIME_STEPS = 8


def operation_table(repeats: int) -> None:
    torch.manual_seed(0)
    h = torch.randn(STEP_SHAPE) + 0.5
    x = torch.randn(STEP_SHAPE)
    out = torch.empty(STEP_SHAPE)
    fired = torch.empty(STEP_SHAPE, dtype=torch.bool)
    spike = (h >= 1.0).float()
    zero = torch.zeros(())
    operations: dict[str, Callable[[], object]] = {
        "torch.ge into bool": lambda: torch.ge(h, 1.0, out=fired),
        "torch.ge into float": lambda: torch.ge(h, 1.0, out=out),
        "bool-to-float copy": lambda: out.copy_(fired),
        "masked_fill (bool mask)": lambda: h.masked_fill(fired, 0.0),
        "torch.where (bool mask)": lambda: torch.where(fired, 0.0, h),
        "torch.lerp(h, 0, spike)": lambda: torch.lerp(h, zero, spike),
        "torch.lerp(h, x, 0.5) into out": lambda: torch.lerp(h, x, 0.5, out=out),
        "torch.addcmul": lambda: torch.addcmul(h, spike, x, value=-1.0),
        "torch.sigmoid": lambda: torch.sigmoid(h),
        "clone": lambda: h.clone(),
    }
    print(f"| operation on {list(STEP_SHAPE)} | ms |")
    print("|---|---|")
    for name, run in operations.items():
        print(f"| {name} | {median_ms(run, warmup=3, repeats=repeats):.3f} |", flush=True)


def block_table(repeats: int, sizes: list[int]) -> None:
    spec = FusedSpec(
        has_leak=True,
        decay_input=True,
        reset_mode="hard",
        v_reset=0.0,
        detach_reset=False,
        surrogate=resolve_surrogate("sigmoid"),
    )
    torch.manual_seed(0)
    x = torch.randn(TIME_STEPS, *STEP_SHAPE) * 0.8 + 0.6
    upstream = torch.rand_like(x)
    threshold, decay, v0 = torch.tensor(1.0), torch.tensor(0.5), torch.zeros(())
    default = fused_eager.CPU_BLOCK_ELEMENTS
    print(f"\n| block elements | forward (keeps h) | backward |  shape {[TIME_STEPS, *STEP_SHAPE]}")
    print("|---|---|---|")
    try:
        for size in sizes:
            fused_eager.CPU_BLOCK_ELEMENTS = size
            _, potentials = fused_eager.eager_forward(spec, x, v0, threshold, decay)
            forward = median_ms(
                lambda: fused_eager.eager_forward(spec, x, v0, threshold, decay),
                warmup=3,
                repeats=repeats,
            )
            backward = median_ms(
                functools.partial(
                    fused_eager.eager_backward,
                    spec,
                    upstream,
                    potentials,
                    None,
                    v0,
                    threshold,
                    decay,
                    need_threshold_grad=False,
                    need_decay_grad=False,
                ),
                warmup=3,
                repeats=repeats,
            )
            marker = " (default)" if size == default else ""
            print(
                f"| 2**{size.bit_length() - 1}{marker} | {forward:.2f} | {backward:.2f} |",
                flush=True,
            )
    finally:
        fused_eager.CPU_BLOCK_ELEMENTS = default


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21, help="timed runs; the median is shown")
    parser.add_argument(
        "--block-powers",
        type=int,
        nargs="+",
        default=[16, 17, 18, 19, 20],
        help="block sizes to try, as powers of two (2**20 is one block per time step)",
    )
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    operation_table(args.repeats)
    block_table(args.repeats, [1 << power for power in args.block_powers])


if __name__ == "__main__":
    main()
