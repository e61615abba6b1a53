"""Convert a QCFS-trained ANN into a soft-reset IF network (plain, COS or SRP)."""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import pluggy
from torch import nn

from snn_convert.folding import fold_batchnorm
from snn_convert.layers import IFActivation, SimulationMethod, TimeFoldedLayer
from snn_convert.network import SpikingNetwork
from snn_convert.qcfs import QCFS

__all__ = ["ConversionConfig", "ConvertedSNN", "convert_to_snn", "layer_plugin_manager"]

logger = logging.getLogger(__name__)


@dataclass
class ConversionConfig:
    """Settings of one conversion.

    Attributes:
        method: ``"plain"`` (IF neurons from ``theta / 2``), ``"cos"`` (offset-spike calibration of the
            initial potential) or ``"srp"`` (residual-membrane mask).
        time_steps: Reported steps ``T`` after any pre-simulation.
        presim_steps: COS ``rho`` or SRP ``tau``; 0 for plain conversion. Both methods work best with
            ``presim_steps`` equal to the QCFS level.
        cos_rounds: COS calibration rounds; 1 is the published method.
        fold_batchnorm: Fold BatchNorm into the preceding conv/linear layer first.
    """

    method: SimulationMethod = "plain"
    time_steps: int = 8
    presim_steps: int = 0
    cos_rounds: int = 1
    fold_batchnorm: bool = True

    def __post_init__(self) -> None:
        if self.method not in ("plain", "cos", "srp"):
            raise ValueError(f"invalid method {self.method!r}; use one of plain, cos, srp")
        if self.time_steps < 1:
            raise ValueError(f"time_steps must be >= 1, got {self.time_steps}")
        if self.method == "plain" and self.presim_steps != 0:
            raise ValueError(
                f"plain conversion takes presim_steps=0, got {self.presim_steps}; use method 'cos' "
                "or 'srp' for pre-simulation"
            )
        if self.method != "plain" and self.presim_steps < 1:
            raise ValueError(
                f"method {self.method!r} needs presim_steps >= 1 (rho or tau), got "
                f"{self.presim_steps}; the QCFS level is a good choice"
            )
        if self.cos_rounds < 1:
            raise ValueError(f"cos_rounds must be >= 1, got {self.cos_rounds}")

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as a JSON-able dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConversionConfig:
        """Build settings from :meth:`to_dict` output."""
        return cls(**data)


class ConvertedSNN(SpikingNetwork):
    """A converted IF network; :meth:`forward` returns the logits ``[T, B, K]`` of the reported steps.

    Plain conversion simulates ``T`` steps. COS simulates ``max(T, rho)`` steps (the pre-simulation
    re-reads the first rho inputs) and reports the first ``T``. SRP simulates ``tau + T`` steps and
    reports the last ``T``. The latency of a prediction after ``t`` reported steps is
    ``presim_steps + t``.

    Args:
        body: The converted layer graph.
        config: The conversion settings.
    """

    def __init__(self, body: nn.Module, config: ConversionConfig) -> None:
        super().__init__(body, config.time_steps)
        self.config = config
        self.configure(config.method, config.presim_steps, config.cos_rounds)

    def configure(
        self, method: SimulationMethod, presim_steps: int = 0, cos_rounds: int = 1
    ) -> None:
        """Switch every IF layer to ``method`` with ``presim_steps`` pre-simulation steps.

        The same converted network can be evaluated with each method in turn.

        Raises:
            ValueError: For an unknown method or a wrong number of pre-simulation steps.
        """
        self.config = ConversionConfig(
            method=method,
            time_steps=self.time_steps,
            presim_steps=presim_steps,
            cos_rounds=cos_rounds,
            fold_batchnorm=self.config.fold_batchnorm,
        )
        for module in self.if_layers():
            module.configure(method, presim_steps, cos_rounds)

    def if_layers(self) -> list[IFActivation]:
        """Return the IF layers in graph order."""
        return [m for m in self.body.modules() if isinstance(m, IFActivation)]

    @property
    def latency_offset(self) -> int:
        """Steps spent before the first reported step (rho or tau; 0 for plain conversion)."""
        return self.config.presim_steps

    def sequence_plan(self, time_steps: int) -> tuple[int, int]:
        method, presim = self.config.method, self.config.presim_steps
        if method == "cos":
            return max(time_steps, presim), 0
        if method == "srp":
            return presim + time_steps, presim
        return time_steps, 0


def layer_plugin_manager(
    plugin_manager: pluggy.PluginManager | None = None,
) -> pluggy.PluginManager:
    """Return a plugin manager that has the ``snn_convert_layer`` hook and snn-convert's plugin.

    Args:
        plugin_manager: A manager to extend; defaults to snn-core's loaded manager.
    """
    from snn_convert import hookspecs, plugin

    if plugin_manager is None:
        from snn_core.plugins import get_plugin_manager

        plugin_manager = get_plugin_manager()
    if not has_convert_layer_spec(plugin_manager):
        plugin_manager.add_hookspecs(hookspecs)
    if not plugin_manager.is_registered(plugin):
        plugin_manager.register(plugin, name="snn-convert")
    return plugin_manager


def has_convert_layer_spec(plugin_manager: pluggy.PluginManager) -> bool:
    """Return whether ``plugin_manager`` has the ``snn_convert_layer`` hook specification."""
    # A plugin registered before the spec was added leaves an unspecified hook caller behind.
    caller = getattr(plugin_manager.hook, "snn_convert_layer", None)
    return caller is not None and caller.spec is not None


def convert_default_layer(module: nn.Module) -> nn.Module | None:
    """Return the IF layer for a QCFS activation, or None for any other module."""
    if isinstance(module, QCFS):
        return IFActivation(float(module.threshold.detach()))
    return None


def _hook_converted_classes(
    ann: nn.Module, config: ConversionConfig, plugin_manager: pluggy.PluginManager
) -> set[type[nn.Module]]:
    # Layers that a hook converts must stay whole modules when the ANN is traced for folding.
    classes: set[type[nn.Module]] = set()
    for name, module in ann.named_modules():
        if name and plugin_manager.hook.snn_convert_layer(module=module, name=name, config=config):
            classes.add(type(module))
    return classes


def _replace_modules(
    root: nn.Module, config: ConversionConfig, plugin_manager: pluggy.PluginManager
) -> int:
    converted = 0
    pending: list[tuple[nn.Module, str]] = [(root, "")]
    while pending:
        parent, prefix = pending.pop()
        for child_name, child in list(parent.named_children()):
            path = f"{prefix}.{child_name}" if prefix else child_name
            replacement = plugin_manager.hook.snn_convert_layer(
                module=child, name=path, config=config
            )
            if replacement is not None and replacement is not child:
                setattr(parent, child_name, replacement)
                converted += 1
                logger.debug(
                    "converted %s (%s) to %s",
                    path,
                    type(child).__name__,
                    type(replacement).__name__,
                )
            elif replacement is None:
                pending.append((child, path))
    return converted


def convert_to_snn(
    ann: nn.Module,
    config: ConversionConfig | None = None,
    *,
    plugin_manager: pluggy.PluginManager | None = None,
    leaf_modules: Iterable[type[nn.Module]] = (),
) -> ConvertedSNN:
    """Convert a QCFS-trained ANN into a soft-reset IF network.

    1. Fold every BatchNorm into its conv/linear producer (:func:`fold_batchnorm`).
    2. Ask the ``snn_convert_layer`` hook for the spiking form of every submodule. snn-convert maps
       each QCFS to an :class:`IFActivation` with ``theta`` = the learned clip threshold and initial
       potential ``theta / 2``; other plugins may map their own layers.
    3. Wrap the result in a :class:`ConvertedSNN` that presents the input at every step.

    Args:
        ann: The trained ANN (QCFS activations, average pooling). It is not modified.
        config: Conversion settings; defaults to plain conversion with 8 steps.
        plugin_manager: Manager whose ``snn_convert_layer`` implementations are used; defaults to
            snn-core's loaded plugins.
        leaf_modules: Module classes to keep whole while tracing for batch-norm folding.

    Returns:
        The converted network in evaluation mode.

    Raises:
        TypeError: If a ReLU is left in the ANN (prepare it with :func:`prepare_qcfs_model`), or
            the ANN has no layer that converts to a spiking layer.
    """
    config = config or ConversionConfig()
    manager = layer_plugin_manager(plugin_manager)
    if config.fold_batchnorm:
        leaves = {*leaf_modules, *_hook_converted_classes(ann, config, manager)}
        body = fold_batchnorm(ann, leaf_modules=leaves)
    else:
        body = copy.deepcopy(ann).eval()

    relus = [name for name, m in body.named_modules() if isinstance(m, nn.ReLU)]
    if relus:
        raise TypeError(
            f"the ANN still has ReLU layers {relus}; train it with QCFS activations first "
            "(snn_convert.prepare_qcfs_model) so each layer has a learned threshold"
        )
    converted = _replace_modules(body, config, manager)
    spiking = [m for m in body.modules() if isinstance(m, TimeFoldedLayer)]
    if not spiking:
        raise TypeError(
            f"{type(ann).__name__} has no layer that converts to a spiking layer; it needs QCFS "
            "activations or layers a snn_convert_layer hook implementation maps"
        )
    logger.info("converted %d layers to spiking layers (%s)", converted, config.method)
    return ConvertedSNN(body, config).eval()
