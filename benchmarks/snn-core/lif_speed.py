"""Time LIF multi-step forward and forward+backward: snn-core's backends beside SpikingJelly and snnTorch.

Shape [T=8, B=32, C=128, H=16, W=16], LIF with tau = 2, decay_input, hard reset to 0, threshold 1,
sigmoid surrogate (alpha = 4). Each entry is the median of --repeats runs after --warmup runs.

    python benchmarks/snn-core/lif_speed.py --json runs/bench/lif_speed.json

Run it once plainly and once with jemalloc (LD_PRELOAD=libjemalloc.so.2 MALLOC_CONF=...): glibc
malloc returns large blocks to the system after every call, and the page faults of the next
allocation can dominate these timings.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

SHAPE = (8, 32, 128, 16, 16)


def median_ms(run: Callable[[], None], warmup: int, repeats: int) -> float:
    for _ in range(warmup):
        run()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e3


def runners(
    module: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor
) -> dict[str, Callable[[], None]]:
    upstream = torch.rand_like(x)

    def forward() -> None:
        with torch.no_grad():
            module(x)

    def forward_backward() -> None:
        inputs = x.detach().requires_grad_()
        module(inputs).backward(upstream)

    return {"forward": forward, "forward+backward": forward_backward}


def snn_core_candidates() -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    from snn_core.neuron import LIFNeuron

    candidates = {}
    for backend in ("reference", "fused", "compiled", "auto"):
        candidates[f"snn-core {backend}"] = LIFNeuron(tau=2.0, surrogate="sigmoid", backend=backend)
    return candidates


def spikingjelly_candidates() -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    try:
        from spikingjelly.activation_based import functional, neuron, surrogate
    except ImportError:
        return {}

    def make() -> torch.nn.Module:
        node = neuron.LIFNode(
            tau=2.0, surrogate_function=surrogate.Sigmoid(alpha=4.0), step_mode="m"
        )
        return node

    eager = make()
    compiled_node = make()
    compiled = torch.compile(compiled_node)

    def run_eager(x: torch.Tensor) -> torch.Tensor:
        functional.reset_net(eager)
        return eager(x)

    def run_compiled(x: torch.Tensor) -> torch.Tensor:
        functional.reset_net(compiled_node)
        return compiled(x)

    return {"SpikingJelly eager": run_eager, "SpikingJelly torch.compile": run_compiled}


def snntorch_candidates() -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    try:
        import snntorch
    except ImportError:
        return {}
    # snnTorch's Leaky: mem = beta * mem + x; beta = 1 - 1/tau matches the leak, not the input scaling,
    # so its input is scaled by 1/tau to give the same dynamics.
    leaky = snntorch.Leaky(
        beta=0.5,
        threshold=1.0,
        reset_mechanism="zero",
        spike_grad=snntorch.surrogate.sigmoid(slope=4),
    )

    def run(x: torch.Tensor) -> torch.Tensor:
        mem = leaky.init_leaky()
        spikes = []
        for t in range(x.shape[0]):
            spike, mem = leaky(x[t] * 0.5, mem)
            spikes.append(spike)
        return torch.stack(spikes)

    return {"snnTorch eager (Leaky loop)": run}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs before timing")
    parser.add_argument(
        "--repeats", type=int, default=20, help="timed runs; the median is reported"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the table as JSON here")
    args = parser.parse_args()

    torch.manual_seed(0)
    x = torch.randn(SHAPE) * 0.8 + 0.6
    candidates = {**snn_core_candidates(), **spikingjelly_candidates(), **snntorch_candidates()}
    allocator = "jemalloc" if "jemalloc" in os.environ.get("LD_PRELOAD", "") else "glibc malloc"
    rows = []
    print(f"| implementation | forward (ms) | forward+backward (ms) |  allocator: {allocator}")
    print("|---|---|---|")
    for name, module in candidates.items():
        timings = {
            mode: median_ms(run, args.warmup, args.repeats)
            for mode, run in runners(module, x).items()
        }
        rows.append({"implementation": name, **timings})
        print(
            f"| {name} | {timings['forward']:.1f} | {timings['forward+backward']:.1f} |", flush=True
        )
    if args.json is not None:
        record = {
            "shape": SHAPE,
            "allocator": allocator,
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "rows": rows,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
