"""Measure, layer by layer, why SRP (tau = L = 4) loses to plain QCFS conversion at small T on digits.

Usage::

    python benchmarks/snn-convert/srp_layer_diagnosis.py [--ann-checkpoint PATH] [--json PATH]

By default the script trains the ANN of ``srp_mask_digits.py`` (``vgg-small``, QCFS L = 4, 20
epochs, batch 32, lr 0.05, seed 0). ``--ann-checkpoint PATH`` loads instead the ANN that
``snn convert --dataset digits --out-dir OUT`` saved as ``OUT/ann.safetensors`` + ``OUT/ann.json``
(pass ``OUT/ann``). The ANN must use QCFS level 4, because tau = L = 4 is fixed here.

The script prints:

1. Two checks. The package's layer-wise SRP is compared with an independent simulation that runs
   the whole network one step at a time: ordinary IF from 1/2 for tau steps, then the mask
   ``v > 1e-3`` and a reset to 1/2, then masked outputs, with logits of the last T steps. SRP with
   the mask switched off is compared with plain conversion.
2. Per IF layer and T in {1, 2, 4}: the spike count over the T reported steps against the QCFS ANN's
   count ``q * T / L`` (``q`` = the ANN activation in units of theta / L), split by ``q = 0`` and
   ``q > 0``, for plain conversion and SRP.
3. Per IF layer: the fraction of neurons the SRP mask silences, split by ``q = 0`` and ``q > 0``.
4. Accuracy when the mask is applied only to neurons with ``q = 0``, only to ``q > 0``, or only in
   one layer (at T = 2, with the last IF layer's spike count against the ANN's).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from snn_convert import ConversionConfig, convert_to_snn, evaluate_ann, prepare_qcfs_model
from snn_convert.calibration import simulate_if
from snn_convert.convert import ConvertedSNN
from snn_convert.experiment import load_qcfs_ann
from snn_convert.layers import IFActivation
from snn_convert.models import build_ann
from snn_convert.qcfs import QCFS
from snn_convert.training import train_qcfs
from snn_core.datasets import load_dataset
from snn_core.training import TrainConfig

LEVEL = 4
TAU = 4
MASK_THRESHOLD = 1e-3
STEPS = (1, 2, 4)

# A mask policy maps (SRP keep-mask, ANN level q) of one layer to the keep-mask actually applied.
MaskPolicy = Callable[[Tensor, Tensor], Tensor]
POLICIES: dict[str, MaskPolicy] = {
    "no mask": lambda keep, q: torch.ones_like(keep),
    "full mask (SRP)": lambda keep, q: keep,
    "mask only where q = 0": lambda keep, q: keep | (q > 0),
    "mask only where q > 0": lambda keep, q: keep | (q == 0),
}
ONE_LAYER_POLICIES = ("full mask (SRP)", "mask only where q = 0", "mask only where q > 0")


def train_or_load_ann(checkpoint: Path | None, splits: Any) -> torch.nn.Module:
    """Load the QCFS ANN that ``snn convert`` saved at ``checkpoint``, or train the default one."""
    if checkpoint is not None:
        ann, _ = load_qcfs_ann(checkpoint, splits)
        return ann.eval()
    torch.manual_seed(0)
    ann = prepare_qcfs_model(
        build_ann("vgg-small", in_channels=1, num_classes=10, image_size=8), level=LEVEL
    )
    config = TrainConfig(
        epochs=20, batch_size=32, lr=0.05, optimizer="sgd", weight_decay=5e-4, device="cpu",
        progress=False,
    )  # fmt: skip
    train_qcfs(ann, splits, config)
    return ann.eval()


@torch.no_grad()
def ann_levels(ann: torch.nn.Module, images: Tensor) -> dict[str, Tensor]:
    """Return every QCFS layer's output in units of ``theta / L`` (integers 0..L), by module name."""
    levels: dict[str, Tensor] = {}
    handles = []
    for name, module in ann.named_modules():
        if isinstance(module, QCFS):

            def hook(mod: QCFS, _inputs: Any, output: Tensor, name: str = name) -> None:
                levels[name] = torch.round(output / mod.threshold * mod.level)

            handles.append(module.register_forward_hook(hook))
    try:
        ann(images)
    finally:
        for handle in handles:
            handle.remove()
    return levels


def named_if_layers(snn: ConvertedSNN) -> dict[str, IFActivation]:
    return {n: m for n, m in snn.body.named_modules() if isinstance(m, IFActivation)}


@torch.no_grad()
def run_layerwise(
    snn: ConvertedSNN,
    images: Tensor,
    time_steps: int,
    presim: int,
    levels: dict[str, Tensor],
    policy: MaskPolicy,
    masked_layers: set[str] | None = None,
) -> tuple[Tensor, dict[str, dict[str, Tensor]]]:
    """Simulate ``presim + time_steps`` steps layer by layer and record each layer's spikes.

    With ``presim = 0`` this is plain conversion. With ``presim = tau`` it is SRP, except that the
    keep-mask of each layer in ``masked_layers`` (default: all) passes through ``policy`` and the
    other layers are not masked. Returns the logits of the last ``time_steps`` steps and, per layer,
    the reported-step spike counts with and without the mask and the mask itself.
    """
    layers = named_if_layers(snn)
    records: dict[str, dict[str, Tensor]] = {}
    total = presim + time_steps

    def make_forward(name: str, layer: IFActivation) -> Callable[[Tensor], Tensor]:
        def forward(x: Tensor) -> Tensor:
            theta = layer.threshold.to(x.dtype)
            x_seq = layer.unfold(x) / theta
            q = levels[name]
            if presim == 0:
                post = simulate_if(x_seq, 0.5)[0]
                keep = torch.ones_like(q, dtype=torch.bool)
                unmasked = post
                spikes = post
            else:
                pre, residual, _ = simulate_if(x_seq[:presim], 0.5)
                srp_keep = residual > MASK_THRESHOLD
                applies = masked_layers is None or name in masked_layers
                keep = policy(srp_keep, q) if applies else torch.ones_like(srp_keep)
                unmasked = simulate_if(x_seq[presim:], 0.5)[0]
                post = unmasked * keep
                spikes = torch.cat([pre, post])
                records.setdefault(name, {})["srp_keep"] = srp_keep
            records.setdefault(name, {}).update(
                count=post.sum(0), unmasked_count=unmasked.sum(0), keep=keep
            )
            return layer.fold(spikes * theta)

        return forward

    for name, layer in layers.items():
        layer.forward = make_forward(name, layer)  # type: ignore[method-assign]
        layer.sequence_length = total
    try:
        batch = images.shape[0]
        x_seq = images.unsqueeze(0).expand(total, *images.shape).reshape(-1, *images.shape[1:])
        logits = snn.body(x_seq).reshape(total, batch, -1)
    finally:
        for layer in layers.values():
            del layer.forward
    return logits[presim:], records


@torch.no_grad()
def run_step_by_step_srp(snn: ConvertedSNN, images: Tensor, time_steps: int, tau: int) -> Tensor:
    """Simulate SRP one time step at a time through all layers, written directly from the method.

    Steps 1..tau: soft-reset IF from v = 1/2, outputs passed on. At the end of step tau: mask
    ``v > 1e-3`` and reset v to 1/2. Steps tau+1..tau+T: output ``theta * s * mask``. Returns the
    logits of the last T steps ``[T, B, K]``.
    """
    layers = named_if_layers(snn)
    potentials: dict[str, Tensor] = {}
    masks: dict[str, Tensor] = {}
    step = {"t": 0}

    def make_forward(name: str, layer: IFActivation) -> Callable[[Tensor], Tensor]:
        def forward(x: Tensor) -> Tensor:
            theta = layer.threshold.to(x.dtype)
            v = potentials.get(name, torch.full_like(x, 0.5)) + x / theta
            s = (v >= 1.0).to(x.dtype)
            v = v - s
            t = step["t"] + 1  # 1-based step index
            if t == tau:
                masks[name] = (v > MASK_THRESHOLD).to(x.dtype)
                v = torch.full_like(v, 0.5)
            potentials[name] = v
            if t > tau:
                s = s * masks[name]
            return s * theta

        return forward

    for name, layer in layers.items():
        layer.forward = make_forward(name, layer)  # type: ignore[method-assign]
        layer.sequence_length = 1
    outputs = []
    try:
        for t in range(tau + time_steps):
            step["t"] = t
            outputs.append(snn.body(images))
    finally:
        for layer in layers.values():
            del layer.forward
    return torch.stack(outputs[tau:])


def accuracy_at(logits: Tensor, labels: Tensor) -> float:
    return float((logits.sum(0).argmax(-1) == labels).double().mean())


def rate_table(
    records: dict[str, dict[str, Tensor]], levels: dict[str, Tensor], time_steps: int
) -> dict[str, dict[str, float]]:
    """Per layer: spike counts over the reported steps against the ANN count ``q * T / L``."""
    table = {}
    for name, record in records.items():
        q = levels[name]
        count = record["count"]
        target = q * time_steps / LEVEL
        zero, positive = q == 0, q > 0
        table[name] = {
            "mean_abs_error": float((count - target).abs().mean()),
            "count_ratio": float(count.sum() / target.sum().clamp(min=1)),
            "count_q0": float(count[zero].mean()),
            "count_qpos": float(count[positive].mean()),
            "target_qpos": float(target[positive].mean()),
            "share_qpos": float(positive.double().mean()),
        }
    return table


def mask_table(
    records: dict[str, dict[str, Tensor]], levels: dict[str, Tensor]
) -> dict[str, dict[str, float]]:
    """Per layer: fraction of neurons the SRP mask silences, split by the ANN level ``q``."""
    table = {}
    for name, record in records.items():
        q = levels[name]
        silenced = ~record["srp_keep"]
        zero, positive = q == 0, q > 0
        table[name] = {
            "silenced": float(silenced.double().mean()),
            "silenced_of_q0": float(silenced[zero].double().mean()),
            "silenced_of_qpos": float(silenced[positive].double().mean()),
            "q_of_silenced_qpos": float(q[silenced & positive].mean())
            if bool((silenced & positive).any())
            else 0.0,
        }
    return table


def removed_spikes(records: dict[str, dict[str, Tensor]], levels: dict[str, Tensor]) -> dict:
    """Per layer: spikes per neuron the mask removed in the reported steps, split by ``q``."""
    table = {}
    for name, record in records.items():
        q = levels[name]
        removed = record["unmasked_count"] - record["count"]
        neurons = q.numel()
        table[name] = {
            "removed_q0": float(removed[q == 0].sum()) / neurons,
            "removed_qpos": float(removed[q > 0].sum()) / neurons,
        }
    return table


def print_tables(report: dict[str, Any]) -> None:
    print(f"\nANN accuracy {report['ann_accuracy']:.4f}; step-by-step check: {report['checks']}")
    print("\naccuracy (%) at T:")
    for policy, row in report["accuracy"].items():
        print(f"| {policy} | " + " | ".join(f"{100 * a:.2f}" for a in row) + " |")
    print("\nT = 2, mask in one layer only: layer | accuracy % full / q = 0 only / q > 0 only "
          "| sum N / sum qT/L of the last IF layer, same order")  # fmt: skip
    for name, row in report["mask_one_layer_T2"].items():
        accuracies = " / ".join(f"{100 * row[p]['accuracy']:.2f}" for p in ONE_LAYER_POLICIES)
        ratios = " / ".join(f"{row[p]['last_count_ratio']:.3f}" for p in ONE_LAYER_POLICIES)
        print(f"| {name} | {accuracies} | {ratios} |")
    for t in STEPS:
        print(f"\nT = {t}: layer | plain: |N - qT/L|, sum N / sum qT/L, mean N (q=0), mean N (q>0) "
              f"| SRP: same | mean qT/L (q>0) | share q>0")  # fmt: skip
        for name, plain in report["rates"]["plain"][str(t)].items():
            srp = report["rates"]["srp"][str(t)][name]
            print(
                f"| {name} | {plain['mean_abs_error']:.3f} / {plain['count_ratio']:.3f} / "
                f"{plain['count_q0']:.3f} / {plain['count_qpos']:.3f} | "
                f"{srp['mean_abs_error']:.3f} / {srp['count_ratio']:.3f} / "
                f"{srp['count_q0']:.3f} / {srp['count_qpos']:.3f} | {plain['target_qpos']:.3f} | "
                f"{100 * plain['share_qpos']:.1f} % |"
            )
    print(
        "\nSRP mask: layer | silenced % | % of q=0 silenced | % of q>0 silenced | mean q of those"
    )
    for name, row in report["mask"].items():
        print(
            f"| {name} | {100 * row['silenced']:.2f} | {100 * row['silenced_of_q0']:.2f} | "
            f"{100 * row['silenced_of_qpos']:.2f} | {row['q_of_silenced_qpos']:.2f} |"
        )
    print("\nspikes per neuron the mask removed at T = 2: layer | q = 0 | q > 0")
    for name, row in report["removed_T2"].items():
        print(f"| {name} | {row['removed_q0']:.4f} | {row['removed_qpos']:.4f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--ann-checkpoint",
        type=Path,
        help="QCFS ANN saved by `snn convert` (path without suffix, e.g. OUT_DIR/ann); "
        "default: train vgg-small for 20 epochs",
    )
    parser.add_argument("--json", type=Path, help="also write the measurements to PATH as JSON")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.set_grad_enabled(False)

    splits = load_dataset("digits")
    with torch.enable_grad():
        ann = train_or_load_ann(args.ann_checkpoint, splits)
    loader = DataLoader(splits.test, batch_size=len(splits.test))
    images, labels = next(iter(loader))
    qcfs_levels = {m.level for m in ann.modules() if isinstance(m, QCFS)}
    if qcfs_levels != {LEVEL}:
        raise ValueError(
            f"invalid ANN: QCFS levels {sorted(qcfs_levels)}, but tau = {TAU} needs L = {LEVEL}; "
            "train it with --level 4"
        )
    levels = ann_levels(ann, images)
    snn = convert_to_snn(ann, ConversionConfig(time_steps=max(STEPS)))
    if set(levels) != set(named_if_layers(snn)):
        raise RuntimeError(
            f"QCFS layers {sorted(levels)} do not match the IF layers "
            f"{sorted(named_if_layers(snn))} of the converted network"
        )
    report: dict[str, Any] = {"ann_accuracy": evaluate_ann(ann, [(images, labels)])}

    # 1. The package's SRP against the step-by-step simulation and against plain conversion.
    snn.configure("srp", TAU)
    package_srp = snn(images, time_steps=max(STEPS))
    step_srp = run_step_by_step_srp(snn, images, max(STEPS), TAU)
    snn.configure("plain", 0)
    package_plain = snn(images, time_steps=max(STEPS))
    unmasked, _ = run_layerwise(snn, images, max(STEPS), TAU, levels, POLICIES["no mask"])
    layerwise_srp, _ = run_layerwise(
        snn, images, max(STEPS), TAU, levels, POLICIES["full mask (SRP)"]
    )
    report["checks"] = {
        "max |package SRP - step-by-step SRP|": float((package_srp - step_srp).abs().max()),
        "max |package SRP - diagnostic SRP|": float((package_srp - layerwise_srp).abs().max()),
        "max |SRP without mask - plain|": float((unmasked - package_plain).abs().max()),
    }

    # 2-4. Accuracy per mask policy, per-layer rates and mask fractions.
    report["accuracy"] = {"plain": []}
    for policy in POLICIES:
        report["accuracy"][policy] = []
    report["rates"] = {"plain": {}, "srp": {}}
    for t in STEPS:
        logits, records = run_layerwise(snn, images, t, 0, levels, POLICIES["no mask"])
        report["accuracy"]["plain"].append(accuracy_at(logits, labels))
        report["rates"]["plain"][str(t)] = rate_table(records, levels, t)
        for policy, rule in POLICIES.items():
            logits, records = run_layerwise(snn, images, t, TAU, levels, rule)
            report["accuracy"][policy].append(accuracy_at(logits, labels))
            if policy == "full mask (SRP)":
                report["rates"]["srp"][str(t)] = rate_table(records, levels, t)
                report["mask"] = mask_table(records, levels)
                if t == 2:
                    report["removed_T2"] = removed_spikes(records, levels)
    report["mask_one_layer_T2"] = {}
    last_layer = list(named_if_layers(snn))[-1]
    for name in named_if_layers(snn):
        row = {}
        for policy in ONE_LAYER_POLICIES:
            logits, records = run_layerwise(
                snn, images, 2, TAU, levels, POLICIES[policy], masked_layers={name}
            )
            row[policy] = {
                "accuracy": accuracy_at(logits, labels),
                "last_count_ratio": rate_table(records, levels, 2)[last_layer]["count_ratio"],
            }
        report["mask_one_layer_T2"][name] = row

    print_tables(report)
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
