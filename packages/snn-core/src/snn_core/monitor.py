"""Recording firing rates of every neuron layer in a model."""

from __future__ import annotations

from types import TracebackType

import torch
from torch import Tensor, nn

from snn_core.neuron import BaseNeuron

__all__ = ["FiringRateMonitor"]


class FiringRateMonitor:
    """Record the mean firing rate of each :class:`BaseNeuron` in a model while the context is open.

    Rates are averaged over every element, time step and forward call seen, weighted by element
    count, so a layer's rate is spikes per neuron per time step.

    Example::

        with FiringRateMonitor(model) as monitor:
            model(images)
        print(monitor.rates())  # {"features.2": 0.13, ...}

    Args:
        model: The model whose neuron layers are hooked.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self._spike_sums: dict[str, float] = {}
        self._counts: dict[str, int] = {}
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def __enter__(self) -> FiringRateMonitor:
        for name, module in self.model.named_modules():
            if isinstance(module, BaseNeuron):
                self._handles.append(module.register_forward_hook(self._recorder(name or "neuron")))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _recorder(self, name: str):
        def record(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
            self._spike_sums[name] = self._spike_sums.get(name, 0.0) + float(output.detach().sum())
            self._counts[name] = self._counts.get(name, 0) + output.numel()

        return record

    def rates(self) -> dict[str, float]:
        """Return ``{layer name: spikes per neuron per step}`` for every layer that ran."""
        return {name: self._spike_sums[name] / self._counts[name] for name in self._spike_sums}

    def reset(self) -> None:
        """Forget what was recorded so far."""
        self._spike_sums.clear()
        self._counts.clear()
