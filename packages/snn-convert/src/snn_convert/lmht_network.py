"""Build LM-HT networks (direct or hybrid) and reparameterise them into single-threshold IF networks."""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable

import torch
import torch.fx as fx
from torch import Tensor, nn

from snn_convert.folding import fold_batchnorm
from snn_convert.layers import IFActivation, NeuronActivation
from snn_convert.lmht import LMHTNeuron, ReparameterizedLMHTNeuron
from snn_convert.network import SpikingNetwork
from snn_convert.prepare import prepare_qcfs_model
from snn_convert.qcfs import QCFS

__all__ = [
    "build_lmht_network",
    "compare_reparameterized",
    "hybrid_from_converted",
    "hybrid_lmht_network",
    "lmht_neurons",
    "reparameterize_lmht",
    "sum_sub_steps",
]

logger = logging.getLogger(__name__)


def _modules_in_graph_order(body: nn.Module, kind: type[nn.Module]) -> list[tuple[str, nn.Module]]:
    named = dict(body.named_modules())
    if isinstance(body, fx.GraphModule):
        order = [n.target for n in body.graph.nodes if n.op == "call_module"]
        return [(str(t), named[str(t)]) for t in order if isinstance(named[str(t)], kind)]
    return [(name, m) for name, m in named.items() if isinstance(m, kind)]


def _set_module(root: nn.Module, path: str, module: nn.Module) -> None:
    parent_path, _, child = path.rpartition(".")
    parent = root.get_submodule(parent_path) if parent_path else root
    setattr(parent, child, module)


def lmht_neurons(network: nn.Module) -> list[LMHTNeuron]:
    """Return the LM-HT neurons of ``network`` in module order."""
    return [m for m in network.modules() if isinstance(m, LMHTNeuron)]


def build_lmht_network(
    ann: nn.Module, *, level: int = 2, time_steps: int = 2, threshold: float | None = None
) -> SpikingNetwork:
    """Build an LM-HT network for direct training from an ANN definition.

    Every ReLU (module or functional) or QCFS activation becomes an LM-HT neuron with threshold
    ``2 / L`` (or ``threshold``), initial potential 0, leak 1 and uniform mixing; MaxPool becomes
    AvgPool. Conv, BatchNorm and linear layers act on the time-folded batch.

    Args:
        ann: The ANN (for example from the model registry). It is not modified.
        level: ``L``.
        time_steps: ``T``.
        threshold: ``theta``; defaults to ``2 / L``.

    Returns:
        A :class:`SpikingNetwork` returning logits ``[T, B, K]``.
    """
    body = prepare_qcfs_model(copy.deepcopy(ann), level=level)
    for path, _ in _modules_in_graph_order(body, QCFS):
        neuron = LMHTNeuron(level=level, time_steps=time_steps, v_threshold=threshold)
        _set_module(body, path, NeuronActivation(neuron))
    body.recompile()
    return SpikingNetwork(body, time_steps)


def hybrid_lmht_network(
    qcfs_ann: nn.Module, *, level: int = 2, time_steps: int = 2
) -> SpikingNetwork:
    """Start LM-HT fine-tuning from a QCFS-trained ANN (the hybrid route QCFS -> IF -> LM-HT).

    Each QCFS becomes an LM-HT neuron with ``theta`` = its learned clip threshold, initial potential
    ``theta / 2``, leak 1 and uniform mixing, and the first spiking layer's input is multiplied by
    ``L``. BatchNorm is folded first. Fine-tune the result with :func:`~snn_convert.train_classifier`.

    Args:
        qcfs_ann: The trained ANN with QCFS activations. It is not modified.
        level: ``L``.
        time_steps: ``T``.

    Returns:
        A :class:`SpikingNetwork` returning logits ``[T, B, K]``.

    Raises:
        TypeError: If the ANN has no QCFS activation.
    """
    body = fold_batchnorm(qcfs_ann)
    activations = _modules_in_graph_order(body, QCFS)
    if not activations:
        raise TypeError(f"{type(qcfs_ann).__name__} has no QCFS activation to start LM-HT from")
    for index, (path, qcfs) in enumerate(activations):
        theta = float(qcfs.threshold.detach())
        neuron = LMHTNeuron(
            level=level,
            time_steps=time_steps,
            v_threshold=theta,
            v_init=theta / 2,
            input_scale=float(level) if index == 0 else 1.0,
        )
        _set_module(body, path, NeuronActivation(neuron))
    body.recompile()
    return SpikingNetwork(body, time_steps).train()


def hybrid_from_converted(
    converted: SpikingNetwork, *, level: int, time_steps: int
) -> SpikingNetwork:
    """Replace the IF layers of a converted network by LM-HT neurons (same rule as the hybrid route)."""
    body = copy.deepcopy(converted.body)
    for index, (path, layer) in enumerate(_modules_in_graph_order(body, IFActivation)):
        theta = float(layer.threshold)
        neuron = LMHTNeuron(
            level=level, time_steps=time_steps, v_threshold=theta, v_init=theta / 2,
            input_scale=float(level) if index == 0 else 1.0,
        )  # fmt: skip
        _set_module(body, path, NeuronActivation(neuron))
    if isinstance(body, fx.GraphModule):
        body.recompile()
    return SpikingNetwork(body, time_steps)


@torch.no_grad()
def _divide_biases(body: nn.Module, level: int) -> None:
    for module in body.modules():
        if (
            isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear))
            and module.bias is not None
        ):
            module.bias /= level
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            if module.bias is not None:
                module.bias /= level
            if module.running_mean is not None:
                module.running_mean /= level


def reparameterize_lmht(network: SpikingNetwork) -> SpikingNetwork:
    """Turn an LM-HT network (``L`` levels, ``T`` steps) into a single-threshold IF network.

    The IF network runs ``T * L`` sub-steps. Each neuron becomes a
    :class:`ReparameterizedLMHTNeuron`; BatchNorm is folded, every conv/linear bias (and any kept
    BatchNorm's shift) is divided by ``L``, and the input is scaled by ``1 / L`` so the first layer's
    output is divided by ``L`` too. Summing the IF logits over each block of ``L`` sub-steps
    (:func:`sum_sub_steps`) gives the LM-HT logits of that step, and the spikes of each block sum to
    the LM-HT multi-level output.

    NOTE: this is true per neuron and step only up to the exceptions listed in
    :class:`~snn_convert.ReparameterizedLMHTNeuron`: a negative input after a leaked potential of
    at least ``theta``, an input above ``L * theta`` after a negative potential, and float32
    rounding at a multiple of ``theta``. One such spike in the last hidden layer changes that step's
    logits by ``theta`` times the neuron's outgoing weights, so per-step logits can differ by more
    than 1 while the predictions agree. To compare the two without most rounding ties, convert the
    LM-HT network to float64 before reparameterising it, because the leak and mixing are copied
    at their current precision.

    Args:
        network: A trained LM-HT network; every neuron must share one ``L``.

    Returns:
        A :class:`SpikingNetwork` in evaluation mode returning logits ``[T L, B, K]``.

    Raises:
        ValueError: If the network has no LM-HT neuron or its neurons use different levels.
    """
    levels = {n.level for n in lmht_neurons(network)}
    if len(levels) != 1:
        raise ValueError(
            f"reparameterisation needs LM-HT neurons that share one level, found levels {sorted(levels)}"
        )
    level = levels.pop()
    body = fold_batchnorm(network.body)
    for path, layer in _modules_in_graph_order(body, NeuronActivation):
        if isinstance(layer.neuron, LMHTNeuron):
            _set_module(
                body, path, NeuronActivation(ReparameterizedLMHTNeuron.from_lmht(layer.neuron))
            )
    body.recompile()
    _divide_biases(body, level)
    logger.info(
        "reparameterised LM-HT network: L=%d, %d sub-steps", level, network.time_steps * level
    )
    return SpikingNetwork(
        body, network.time_steps * level, input_scale=network.input_scale / level
    ).eval()


def sum_sub_steps(logits: Tensor, level: int) -> Tensor:
    """Sum logits ``[T L, B, K]`` over each block of ``L`` sub-steps, giving ``[T, B, K]``."""
    steps = logits.shape[0] // level
    return logits.reshape(steps, level, *logits.shape[1:]).sum(1)


def compare_reparameterized(
    network: SpikingNetwork,
    loader: Iterable[tuple[Tensor, Tensor]],
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """Reparameterise an LM-HT network in ``dtype`` and compare its outputs with the original's.

    A copy of ``network`` is cast to ``dtype`` before :func:`reparameterize_lmht`, because the
    leak and mixing are copied at the network's precision. In float64 the per-step logits of a
    correct reparameterisation agreed to about 1e-14 on MNIST and digits. In float32 a potential
    within rounding error of a threshold multiple can move one spike. That changes the step's
    logits by theta times the neuron's outgoing weights, while predictions still agree.

    Args:
        network: A trained LM-HT network returning logits ``[T, B, K]``; it is not modified.
        loader: Batches of images ``[B, C, H, W]`` and labels ``[B]``.
        dtype: The floating-point dtype of both networks during the comparison.
        device: Where to run them.

    Returns:
        ``max_logit_difference`` (largest absolute difference of per-step logits, the IF network's
        summed over each block of ``L`` sub-steps), ``prediction_agreement`` (the fraction of
        samples with the same class from the time-summed logits) and ``samples``.

    Raises:
        ValueError: If ``dtype`` is not a floating-point dtype or the loader yields no samples.
    """
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating-point dtype such as torch.float64, got {dtype}")
    original = copy.deepcopy(network).to(device=device, dtype=dtype).eval()
    level = lmht_neurons(original)[0].level
    reparameterized = reparameterize_lmht(original)
    max_difference, agreement, samples = 0.0, 0, 0
    with torch.no_grad():
        for images, _ in loader:
            images = images.to(device=device, dtype=dtype)
            lmht_logits = original(images)
            block_logits = sum_sub_steps(reparameterized(images), level)
            max_difference = max(max_difference, float((lmht_logits - block_logits).abs().max()))
            same = lmht_logits.sum(0).argmax(-1) == block_logits.sum(0).argmax(-1)
            agreement += int(same.sum())
            samples += images.shape[0]
    if samples == 0:
        raise ValueError("the loader yielded no samples to compare")
    return {
        "max_logit_difference": max_difference,
        "prediction_agreement": agreement / samples,
        "samples": float(samples),
    }
