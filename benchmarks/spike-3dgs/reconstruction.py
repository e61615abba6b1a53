"""Compare TFP, TFI and a self-supervised Recon-Net on spike streams.

1. Simulated stream with ground truth: Spike-Zoo REDS base, 250x400, 301 frames, with the sharp
   frame at step 150 and a firing rate of 0.6 at intensity 1. Recon-Net is trained on the stream
   alone. The script then reports PSNR and SSIM (scikit-image) of TFP, TFI and the network at
   frame 150.
2. Real recording (HiST-SFlow car.dat, 250x400, 200 frames): train Recon-Net on it and save the
   TFP, TFI and network reconstructions of frame 100 as PNG.

Usage::

    python benchmarks/spike-3dgs/reconstruction.py --data-dir "$SNN_SHARED_DATA" --out-dir runs/recon

Writes ``results.json``, ``loss.png`` and the PNGs to ``--out-dir``.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import time
from pathlib import Path

import matplotlib
import numpy as np
import torch
from skimage.io import imread, imsave
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from spike_3dgs import (
    ReconNetConfig,
    ReconTrainConfig,
    read_spikes,
    reconstruct_with_net,
    tfi,
    tfp,
    train_recon_net,
)

matplotlib.use("Agg")
import matplotlib.pyplot as plt

logger = logging.getLogger("reconstruction")

REDS_SPIKES = "spike_camera/spikezoo_reds_base/spike/200_part1_key_id151.dat"
REDS_GT = "spike_camera/spikezoo_reds_base/gt/200_part1_key_id151.png"
CAR = "spike_camera/histsflow_real/car.dat"


def _metrics(gt: np.ndarray, image: torch.Tensor) -> dict[str, float]:
    clipped = image.clamp(0, 1).numpy().astype(np.float64)
    return {
        "psnr": float(peak_signal_noise_ratio(gt, clipped, data_range=1.0)),
        "ssim": float(structural_similarity(gt, clipped, data_range=1.0)),
    }


def _save_png(path: Path, image: torch.Tensor) -> None:
    imsave(path, (image.clamp(0, 1).numpy() * 255).round().astype(np.uint8), check_contrast=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="folder with spike_camera/")
    parser.add_argument("--out-dir", type=Path, default=Path("runs/spike-3dgs-recon"))
    parser.add_argument("--steps", type=int, default=1500, help="training steps on the REDS stream")
    parser.add_argument("--car-steps", type=int, default=300, help="training steps on car.dat")
    parser.add_argument("--crop-size", type=int, default=48, help="training crop side, pixels")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(args.threads)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    # 1. Simulated stream with ground truth.
    rate = 0.6
    spikes = read_spikes(args.data_dir / REDS_SPIKES, 250, 400)
    gt = imread(args.data_dir / REDS_GT).astype(np.float64) / 255.0
    center = 150
    table: dict[str, dict[str, float]] = {}
    for window in (21, 41, 61, 97):
        table[f"TFP ({window} frames)"] = _metrics(
            gt, tfp(spikes, center=center, window=window, max_rate=rate)
        )
    table["TFI"] = _metrics(gt, tfi(spikes, center=center, max_rate=rate))

    train_config = ReconTrainConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        crop_size=args.crop_size,
        seed=args.seed,
        log_every=100,
    )
    net, history = train_recon_net(spikes, ReconNetConfig(), train_config)
    net_image = reconstruct_with_net(net, spikes, center=center, max_rate=rate)
    table["Recon-Net (self-supervised)"] = _metrics(gt, net_image)
    _save_png(args.out_dir / "reds_recon_net.png", net_image)
    _save_png(args.out_dir / "reds_tfp41.png", tfp(spikes, center=center, window=41, max_rate=rate))
    for name, scores in table.items():
        logger.info("%-30s PSNR %.2f dB  SSIM %.4f", name, scores["psnr"], scores["ssim"])

    # 2. Real recording: PNGs only (no ground truth). Its rate at intensity 1 is unknown, so images
    # are scaled by the 99th percentile of TFP.
    car = read_spikes(args.data_dir / CAR, 250, 400)
    car_center = car.shape[0] // 2
    car_tfp = tfp(car, center=car_center, window=41)
    scale = float(np.percentile(car_tfp.numpy(), 99))
    _save_png(args.out_dir / "car_tfp41.png", car_tfp / scale)
    _save_png(args.out_dir / "car_tfi.png", tfi(car, center=car_center) / scale)
    car_history = None
    if args.car_steps > 0:
        car_config = ReconTrainConfig(
            steps=args.car_steps,
            batch_size=args.batch_size,
            crop_size=args.crop_size,
            seed=args.seed,
            log_every=100,
        )
        car_net, car_history = train_recon_net(car, ReconNetConfig(), car_config)
        car_image = reconstruct_with_net(car_net, car, center=car_center)
        _save_png(args.out_dir / "car_recon_net.png", car_image / scale)

    figure, axis = plt.subplots(figsize=(6, 3.5))
    axis.plot(np.convolve(history["loss"], np.ones(25) / 25, mode="valid"), label="REDS stream")
    if car_history is not None:
        axis.plot(np.convolve(car_history["loss"], np.ones(25) / 25, mode="valid"), label="car.dat")
    axis.set_xlabel("step")
    axis.set_ylabel("multi-reblur L1 loss (25-step mean)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(args.out_dir / "loss.png", dpi=120)

    results = {
        "table": table,
        "reds_train_seconds": history["seconds"],
        "car_train_seconds": None if car_history is None else car_history["seconds"],
        "final_loss": float(np.mean(history["loss"][-50:])),
        "args": {key: str(value) for key, value in vars(args).items()},
        "machine": f"{platform.processor() or platform.machine()}, torch threads {args.threads}",
        "torch": torch.__version__,
        "total_seconds": time.perf_counter() - started,
    }
    (args.out_dir / "results.json").write_text(json.dumps(results, indent=2))
    logger.info("wrote %s", args.out_dir / "results.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
