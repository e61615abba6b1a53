"""The ``snn spike`` command: inspect, view, reconstruct and simulate spike streams.

Subcommands (each takes ``--device``, ``--seed`` and ``--out-dir`` and writes ``results.json``)::

    snn spike info FILE --height 250 --width 400
    snn spike view FILE --height 250 --width 400 --out-dir runs/view
    snn spike reconstruct FILE --height 250 --width 400 --method tfp --out-dir runs/recon
    snn spike simulate --out demo.dat --image camera --out-dir runs/sim
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from snn_core.cli import add_common_arguments, positive_int, resolve_device
from snn_core.training.results import environment_record, write_results
from spike_3dgs.io import read_spike_info, read_spikes, write_spikes
from spike_3dgs.recon_net import ReconNetConfig
from spike_3dgs.recon_train import (
    ReconTrainConfig,
    reconstruct_with_net,
    save_recon_net,
    train_recon_net,
)
from spike_3dgs.reconstruct import tfi, tfp
from spike_3dgs.simulate import SAMPLE_IMAGES, SimulatorConfig, simulate_demo_stream

logger = logging.getLogger(__name__)

__all__ = ["add_spike_command"]


def _save_png(path: Path, image: np.ndarray | torch.Tensor) -> None:
    from skimage.io import imsave

    array = image.numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    imsave(path, (np.clip(array, 0.0, 1.0) * 255).round().astype(np.uint8), check_contrast=False)


def _out_dir(args: argparse.Namespace, default: str) -> Path:
    out_dir = Path(args.out_dir) if args.out_dir is not None else Path(default)
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir


def _finish(args: argparse.Namespace, out_dir: Path, results: dict[str, Any]) -> int:
    device = resolve_device(args.device)
    record = {**results, **environment_record(device, args.seed)}
    path = write_results(out_dir / "results.json", record)
    logger.info("wrote %s", path)
    return 0


def _add_file_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="spike file: .dat (raw camera), .npy or .npz")
    parser.add_argument(
        "--height", type=positive_int, default=None, help="frame height H in pixels (.dat)"
    )
    parser.add_argument(
        "--width", type=positive_int, default=None, help="frame width W in pixels (.dat)"
    )
    parser.add_argument(
        "--key",
        default=None,
        help="array name inside a .npz file (default: 'spikes', or the file's only array)",
    )
    parser.add_argument("--start", type=int, default=0, help="first frame to read")
    parser.add_argument(
        "--length",
        type=positive_int,
        default=None,
        help="number of frames to read (default: to the end)",
    )


def _read(args: argparse.Namespace) -> np.ndarray:
    return read_spikes(
        args.file, args.height, args.width, start=args.start, length=args.length, key=args.key
    )


# ------------------------------------------------------------------------------------------------
# snn spike info


def _run_info(args: argparse.Namespace) -> int:
    info = read_spike_info(args.file, args.height, args.width, key=args.key)
    spikes = _read(args)
    per_frame = spikes.mean(axis=(1, 2)) if spikes.shape[0] else np.zeros(0)
    results = {
        "file": str(args.file),
        "format": info.format,
        "num_frames": info.num_frames,
        "height": info.height,
        "width": info.width,
        "window": [args.start, args.start + spikes.shape[0]],
        "mean_rate": float(spikes.mean()) if spikes.size else 0.0,
        "min_frame_rate": float(per_frame.min()) if per_frame.size else 0.0,
        "max_frame_rate": float(per_frame.max()) if per_frame.size else 0.0,
    }
    print(
        f"{args.file}: {info.format}, {info.num_frames} frames of {info.height}x{info.width} (HxW); "
        f"frames {results['window'][0]}..{results['window'][1] - 1}: mean rate "
        f"{results['mean_rate']:.4f} spikes/pixel/step (per frame "
        f"{results['min_frame_rate']:.4f}..{results['max_frame_rate']:.4f})"
    )
    if args.out_dir is None:
        return 0
    return _finish(args, _out_dir(args, "."), results)


# ------------------------------------------------------------------------------------------------
# snn spike view


def _run_view(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spikes = _read(args)
    if spikes.shape[0] == 0:
        raise SystemExit(f"{args.file}: the window contains no frames; lower --start")
    out_dir = _out_dir(args, "spike-view")
    count = min(args.frames, spikes.shape[0])
    written = []
    for index in range(count):
        path = out_dir / f"frame_{args.start + index:05d}.png"
        _save_png(path, spikes[index].astype(np.float32))
        written.append(path.name)
    mean = spikes.mean(0)
    scale = max(float(np.percentile(mean, 99)), 1e-6)
    _save_png(out_dir / "mean.png", mean / scale)

    figure, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    axes[0].imshow(spikes[0], cmap="gray", interpolation="nearest")
    axes[0].set_title(f"spikes, frame {args.start}")
    axes[1].imshow(mean, cmap="gray")
    axes[1].set_title(f"mean rate over {spikes.shape[0]} frames")
    for axis in axes:
        axis.axis("off")
    figure.tight_layout()
    figure.savefig(out_dir / "overview.png", dpi=100)
    plt.close(figure)
    print(f"wrote {count} frame PNGs, mean.png and overview.png to {out_dir}")
    return _finish(
        args,
        out_dir,
        {"file": str(args.file), "frames": written, "mean_rate": float(spikes.mean())},
    )


# ------------------------------------------------------------------------------------------------
# snn spike reconstruct


def _run_reconstruct(args: argparse.Namespace) -> int:
    spikes = _read(args)
    out_dir = _out_dir(args, "spike-reconstruct")
    center = spikes.shape[0] // 2 if args.center is None else args.center
    started = time.perf_counter()
    extra: dict[str, Any] = {}
    max_rate = 1.0 if args.max_rate is None else args.max_rate
    if args.method == "tfp":
        image = tfp(spikes, center=center, window=args.window, max_rate=max_rate)
    elif args.method == "tfi":
        image = tfi(spikes, center=center, max_rate=max_rate)
    else:
        device = resolve_device(args.device)
        train_config = ReconTrainConfig(
            steps=args.steps,
            crop_size=min(args.crop_size, *spikes.shape[1:]),
            seed=args.seed,
            device=str(device),
        )
        net, history = train_recon_net(spikes, ReconNetConfig(), train_config)
        image = reconstruct_with_net(net, spikes, center=center, max_rate=max_rate)
        save_recon_net(out_dir / "recon_net", net, {"train_config": history["train_config"]})
        extra = {"train_seconds": history["seconds"], "final_loss": history["loss"][-1]}
    if args.max_rate is None:
        # Unknown camera gain: map the 99th percentile to white.
        scale = max(float(np.percentile(image.numpy(), 99)), 1e-6)
        image = image / scale
        extra["display_scale"] = scale
    path = out_dir / f"{args.method}_frame{args.start + center:05d}.png"
    _save_png(path, image)
    print(f"wrote {path}")
    return _finish(
        args,
        out_dir,
        {
            "file": str(args.file),
            "method": args.method,
            "center": args.start + center,
            "window": args.window,
            "max_rate": args.max_rate,
            "seconds": time.perf_counter() - started,
            "png": path.name,
            **extra,
        },
    )


# ------------------------------------------------------------------------------------------------
# snn spike simulate


def _run_simulate(args: argparse.Namespace) -> int:
    config = SimulatorConfig(
        threshold=args.threshold,
        gain=args.gain,
        noise_rate=args.noise_rate,
        seed=args.seed,
    )
    spikes, frames = simulate_demo_stream(
        args.image, args.steps, args.height, args.width, args.shift, config
    )
    write_spikes(args.out, spikes)
    out_dir = _out_dir(args, str(Path(args.out).parent))
    _save_png(out_dir / "ground_truth.png", frames[len(frames) // 2])
    print(
        f"wrote {args.out}: {spikes.shape[0]} frames of {args.height}x{args.width} from "
        f"skimage.data.{args.image}(), mean rate {spikes.mean():.4f} "
        f"(max rate {config.max_rate:g} at intensity 1)"
    )
    return _finish(
        args,
        out_dir,
        {
            "out": str(args.out),
            "image": args.image,
            "shape": list(spikes.shape),
            "mean_rate": float(spikes.mean()),
            "simulator": config.to_json(),
        },
    )


def add_spike_command(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``snn spike`` with its subcommands ``info``, ``view``, ``reconstruct``, ``simulate``.

    Args:
        subparsers: The ``snn`` command's subparsers.
    """
    spike = subparsers.add_parser(
        "spike", help="inspect, view, reconstruct and simulate spike streams"
    )
    commands = spike.add_subparsers(dest="spike_command", metavar="SUBCOMMAND", required=True)

    info = commands.add_parser("info", help="print the frame count, size and firing rate of a file")
    _add_file_arguments(info)
    add_common_arguments(info)
    info.set_defaults(handler=_run_info)

    view = commands.add_parser("view", help="write spike frames and the mean rate as PNGs")
    _add_file_arguments(view)
    view.add_argument("--frames", type=int, default=8, help="number of frames to write as PNG")
    add_common_arguments(view)
    view.set_defaults(handler=_run_view)

    recon = commands.add_parser("reconstruct", help="reconstruct an image and write it as PNG")
    _add_file_arguments(recon)
    recon.add_argument(
        "--method",
        choices=("tfp", "tfi", "net"),
        default="tfp",
        help="tfp: window mean; tfi: inter-spike interval; net: train Recon-Net on the stream",
    )
    recon.add_argument("--center", type=int, default=None, help="frame (in the window) to show")
    recon.add_argument(
        "--window", type=positive_int, default=41, help="TFP window length in frames"
    )
    recon.add_argument(
        "--max-rate",
        type=float,
        default=None,
        help="firing rate of a white pixel in spikes/step (default: scale the 99th percentile to white)",
    )
    recon.add_argument(
        "--steps", type=positive_int, default=200, help="Recon-Net training steps (net)"
    )
    recon.add_argument(
        "--crop-size", type=positive_int, default=48, help="Recon-Net training crop (net)"
    )
    add_common_arguments(recon)
    recon.set_defaults(handler=_run_reconstruct)

    simulate = commands.add_parser(
        "simulate", help="simulate a spike stream from a scikit-image sample photo"
    )
    simulate.add_argument(
        "--out", type=Path, required=True, help="spike file to write (.dat/.npy/.npz)"
    )
    simulate.add_argument("--image", choices=SAMPLE_IMAGES, default="camera", help="sample photo")
    simulate.add_argument(
        "--steps", type=positive_int, default=200, help="number of spike frames T"
    )
    simulate.add_argument("--height", type=positive_int, default=128, help="frame height in pixels")
    simulate.add_argument("--width", type=positive_int, default=128, help="frame width in pixels")
    simulate.add_argument("--shift", type=int, default=0, help="horizontal pan over the stream, px")
    simulate.add_argument(
        "--threshold", type=float, default=2.0, help="integrate-and-fire threshold"
    )
    simulate.add_argument("--gain", type=float, default=1.0, help="charge per step at intensity 1")
    simulate.add_argument(
        "--noise-rate",
        type=float,
        default=0.0,
        help="probability of a noise spike per pixel and step",
    )
    add_common_arguments(simulate)
    simulate.set_defaults(handler=_run_simulate)
