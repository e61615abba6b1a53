"""Accuracy at every time step from cumulative logits, and the offset-spike diagnostic."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from snn_convert.layers import MaskStatistics, OffsetStatistics
from snn_convert.network import SpikingNetwork

__all__ = [
    "NoCalibrationDataError",
    "evaluate_ann",
    "evaluate_per_step",
    "offset_spike_histograms",
    "srp_mask_statistics",
]

logger = logging.getLogger(__name__)

Batches = Iterable[tuple[Tensor, Tensor]]


class NoCalibrationDataError(ValueError):
    """Raised when a calibration or evaluation is asked to run on no input batches."""


def _require_batches(count: int, what: str) -> None:
    if count == 0:
        raise NoCalibrationDataError(
            f"{what} got no input batches. COS and SRP calibrate each neuron on the network's own "
            "inputs, so they need at least one (images, labels) batch; pass a non-empty DataLoader "
            "or list of batches"
        )


@torch.no_grad()
def evaluate_per_step(
    model: SpikingNetwork,
    batches: Batches,
    *,
    time_steps: int | None = None,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """Report the accuracy after every step ``t = 1..T`` from the running sum of the logits.

    Args:
        model: A spiking network returning logits ``[T, B, K]``.
        batches: ``(images [B, ...], labels [B])`` pairs.
        time_steps: ``T``; defaults to the model's.
        device: Device to run on.

    Returns:
        ``{"accuracy_per_step": [acc(t=1), ..., acc(t=T)], "samples": n, "latency_offset": k}``
        where accuracies are fractions in [0, 1] and ``latency_offset`` is the number of
        pre-simulation steps each prediction also needed.

    Raises:
        NoCalibrationDataError: If ``batches`` is empty.
    """
    model = model.to(device).eval()
    correct: Tensor | None = None
    samples = 0
    for images, labels in batches:
        images, labels = images.to(device), labels.to(device)
        logits = model(images, time_steps=time_steps)
        predictions = logits.cumsum(0).argmax(-1)
        hits = (predictions == labels.unsqueeze(0)).sum(1).cpu()
        correct = hits if correct is None else correct + hits
        samples += labels.shape[0]
    _require_batches(samples, f"evaluation of {type(model).__name__}")
    assert correct is not None
    return {
        "accuracy_per_step": (correct.double() / samples).tolist(),
        "samples": samples,
        "latency_offset": int(getattr(model, "latency_offset", 0)),
    }


@torch.no_grad()
def evaluate_ann(
    model: nn.Module, batches: Batches, *, device: torch.device | str = "cpu"
) -> float:
    """Return the top-1 accuracy (fraction) of an ANN returning logits ``[B, K]``.

    Raises:
        NoCalibrationDataError: If ``batches`` is empty.
    """
    model = model.to(device).eval()
    correct = samples = 0
    for images, labels in batches:
        logits = model(images.to(device))
        correct += int((logits.argmax(-1).cpu() == labels).sum())
        samples += labels.shape[0]
    _require_batches(samples, "ANN evaluation")
    return correct / samples


@torch.no_grad()
def offset_spike_histograms(
    model: SpikingNetwork,
    batches: Batches,
    *,
    presim_steps: int,
    window: int | None = None,
    device: torch.device | str = "cpu",
) -> dict[str, dict[str, Any]]:
    """Measure per layer how many neurons are off by ``|psi|`` = 0, 1, 2, 3+ spikes.

    The network runs with COS calibration (``rho = presim_steps``). For every neuron of every IF
    layer, the offset spike ``psi = N_SNN - N_ANN`` is counted over the first ``window`` steps of
    the layer's actual input. "before" counts a plain IF neuron starting from ``theta / 2``, and
    "after" counts the neuron started from its calibrated initial potential. ``N_ANN = clip(floor(sum x / theta + 1/2), 0,
    window)`` is what a QCFS layer with level ``window`` outputs on the same mean input. The model's
    method is restored afterwards.

    Args:
        model: A :class:`~snn_convert.ConvertedSNN`.
        batches: ``(images, labels)`` pairs; labels are not used.
        presim_steps: COS pre-simulation steps ``rho``.
        window: Steps over which spikes are counted; defaults to ``rho``.

    Returns:
        ``{layer name: {"before": [f0, f1, f2, f3+], "after": [...], "before_ann_zero_snn_fired":
        f, "after_ann_zero_snn_fired": f, "neurons": n}}`` with fractions of all neurons seen.

    Raises:
        NoCalibrationDataError: If ``batches`` is empty.
        TypeError: If ``model`` is not a converted IF network.
    """
    from snn_convert.convert import ConvertedSNN

    if not isinstance(model, ConvertedSNN):
        raise TypeError(f"offset_spike_histograms needs a ConvertedSNN, got {type(model).__name__}")
    window = presim_steps if window is None else window
    saved = model.config
    layers = set(model.if_layers())
    named = {name: m for name, m in model.body.named_modules() if m in layers}
    model = model.to(device).eval()
    model.configure("cos", presim_steps)
    for layer in named.values():
        layer.offset_statistics = OffsetStatistics(window=window)
    seen = 0
    try:
        for images, _ in batches:
            model(images.to(device), time_steps=max(window, presim_steps))
            seen += images.shape[0]
        _require_batches(seen, "the offset-spike diagnostic")
        report = {}
        for name, layer in named.items():
            stats = layer.offset_statistics
            assert stats is not None
            total = max(stats.neurons, 1)
            report[name] = {
                **stats.fractions(),
                "before_ann_zero_snn_fired": stats.before_ann_zero / total,
                "after_ann_zero_snn_fired": stats.after_ann_zero / total,
                "neurons": stats.neurons,
            }
    finally:
        for layer in named.values():
            layer.offset_statistics = None
        model.configure(saved.method, saved.presim_steps, saved.cos_rounds)
    logger.info("offset-spike histograms over %d samples and %d layers", seen, len(report))
    return report


@torch.no_grad()
def srp_mask_statistics(
    model: SpikingNetwork,
    batches: Batches,
    *,
    presim_steps: int,
    device: torch.device | str = "cpu",
) -> dict[str, dict[str, float]]:
    """Measure per layer what the SRP mask silences after ``tau = presim_steps`` pre-steps.

    The mask is meant to silence neurons whose QCFS output is 0 but which fired. It also silences
    neurons with a positive QCFS output that fired one spike too many, and those then emit nothing.

    Returns:
        ``{layer name: {"silenced", "ann_zero_fired", "ann_zero_fired_kept",
        "silenced_ann_positive"}}`` as fractions of all neurons of the layer.

    Raises:
        NoCalibrationDataError: If ``batches`` is empty.
        TypeError: If ``model`` is not a converted IF network.
    """
    from snn_convert.convert import ConvertedSNN

    if not isinstance(model, ConvertedSNN):
        raise TypeError(f"srp_mask_statistics needs a ConvertedSNN, got {type(model).__name__}")
    saved = model.config
    layers = set(model.if_layers())
    named = {name: m for name, m in model.body.named_modules() if m in layers}
    model = model.to(device).eval()
    model.configure("srp", presim_steps)
    for layer in named.values():
        layer.mask_statistics = MaskStatistics()
    seen = 0
    try:
        for images, _ in batches:
            model(images.to(device), time_steps=1)
            seen += images.shape[0]
        _require_batches(seen, "the SRP mask diagnostic")
        report = {}
        for name, layer in named.items():
            stats = layer.mask_statistics
            assert stats is not None
            total = max(stats.neurons, 1)
            report[name] = {
                "silenced": stats.silenced / total,
                "ann_zero_fired": stats.ann_zero_fired / total,
                "ann_zero_fired_kept": stats.ann_zero_fired_kept / total,
                "silenced_ann_positive": stats.silenced_ann_positive / total,
            }
    finally:
        for layer in named.values():
            layer.mask_statistics = None
        model.configure(saved.method, saved.presim_steps, saved.cos_rounds)
    return report
