"""Gradient estimators for spiking models: BPTT through a chosen surrogate, and rate-based backprop.

A spike is a step function of the membrane potential, so the input gradient an attack follows depends
on how the backward pass replaces that step. An attack that uses only one replacement can be fooled
by it (gradient masking), so a robust evaluation tries several:

* ``bptt-<surrogate>``: back-propagation through time with every neuron's surrogate temporarily
  replaced by a registered one (for example ``bptt-triangle``), restored afterwards.
* ``bptt``: back-propagation through time with the surrogates the model was built with.
* ``bptr``: rate-based back-propagation. The forward pass is the unchanged spiking forward; the
  backward pass treats each neuron as a function of its time-averaged input.

Every estimator is a context manager over a model, so it works on any model built from
:class:`snn_core.neuron.BaseNeuron` layers without knowing the model's code.
"""

from __future__ import annotations

import contextlib
import logging
import types
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from snn_core.neuron import BaseNeuron
from snn_core.registry import SURROGATES
from snn_core.surrogate import Surrogate, resolve_surrogate, surrogate_config

logger = logging.getLogger(__name__)

__all__ = [
    "ENSEMBLE_ESTIMATORS",
    "GradientEstimator",
    "find_neurons",
    "rate_backprop",
    "rate_gradient",
    "resolve_estimators",
    "swap_surrogate",
]


def find_neurons(model: nn.Module) -> list[BaseNeuron]:
    """Return every :class:`BaseNeuron` inside ``model``, in module order."""
    return [module for module in model.modules() if isinstance(module, BaseNeuron)]


def _require_neurons(model: nn.Module, purpose: str) -> list[BaseNeuron]:
    neurons = find_neurons(model)
    if not neurons:
        raise ValueError(
            f"{type(model).__name__} contains no snn_core BaseNeuron, so {purpose} has nothing to "
            "change; build the model from snn_core neurons or use the 'bptt' estimator"
        )
    return neurons


@contextlib.contextmanager
def swap_surrogate(
    model: nn.Module, surrogate: str | Surrogate | dict[str, Any]
) -> Iterator[list[BaseNeuron]]:
    """Replace the surrogate gradient of every neuron in ``model`` inside the block.

    The original surrogates are restored on exit, also when the block raises.

    Args:
        model: Any module that contains :class:`BaseNeuron` layers.
        surrogate: A surrogate instance, a registered name (``"triangle"``) or
            ``{"name": ..., **config}``.

    Yields:
        The neurons whose surrogate was replaced.

    Raises:
        ValueError: If ``model`` contains no :class:`BaseNeuron`.
        UnknownNameError: If the surrogate name is not registered.
    """
    replacement = resolve_surrogate(surrogate)
    neurons = _require_neurons(model, "a surrogate swap")
    originals = [neuron.surrogate for neuron in neurons]
    try:
        for neuron in neurons:
            neuron.surrogate = replacement
        yield neurons
    finally:
        for neuron, original in zip(neurons, originals):
            neuron.surrogate = original


def _threshold_of(neuron: BaseNeuron) -> float:
    threshold = abs(float(getattr(neuron, "threshold_value", 1.0)))
    return threshold if threshold > 0 else 1.0


def rate_gradient(neuron: BaseNeuron, x_seq: Tensor) -> Tensor:
    """Compute the rate-based derivative of a neuron's spike rate with respect to its mean input.

    The rate response ``r(c)`` is the mean spike output of ``neuron`` driven for ``T`` steps by the
    constant current ``c`` from its initial state, measured with the neuron's own forward. The
    derivative is the central difference of ``r`` over one threshold on each side of the
    time-averaged input ``x_bar``::

        dr/dx_bar ~ (r(x_bar + theta) - r(x_bar - theta)) / (2 theta)

    The window smooths the staircase that ``r`` has at finite ``T``. A hard-reset IF neuron with
    threshold 1 fires at a rate of about ``clamp(x_bar, 0, 1)``. Its derivative here is 0.5 for
    ``x_bar`` in [0, 1], falls to 0 at ``x_bar = 2`` and at ``x_bar = -1``, and is 0 further out.

    NOTE: The reference code of "Enhancing Adversarial Robustness in SNNs with Sparse Gradients" uses a
    fixed rectangle instead, 0.5 for ``x_bar`` in [0, 2] for its IF neuron with threshold 1. The two
    agree on [0, 1] and differ on [1, 2] and [-1, 0], where this derivative tapers off.

    Args:
        neuron: The neuron whose rate response is measured.
        x_seq: The neuron's input current ``[T, B, ...]``.

    Returns:
        The derivative ``[B, ...]``, detached, in ``x_seq``'s dtype.
    """
    theta = _threshold_of(neuron)
    steps = x_seq.shape[0]
    x_bar = x_seq.detach().mean(dim=0)
    # The class's forward, not the instance's: inside rate_backprop the instance forward is patched.
    class_forward = type(neuron).forward
    with torch.no_grad():
        above = class_forward(neuron, (x_bar + theta).expand(steps, *x_bar.shape))
        below = class_forward(neuron, (x_bar - theta).expand(steps, *x_bar.shape))
    return ((above.mean(dim=0) - below.mean(dim=0)) / (2.0 * theta)).to(x_seq.dtype)


class _RateBackpropState:
    """Per-neuron bookkeeping while :func:`rate_backprop` is active."""

    def __init__(self) -> None:
        self.in_forward = False
        self.calls = 0


def _rate_forward(neuron: BaseNeuron, state: _RateBackpropState, original: Any) -> Any:
    def forward(self: BaseNeuron, x_seq: Tensor) -> Tensor:
        state.calls += 1
        state.in_forward = True
        try:
            with torch.no_grad():
                spikes = original(x_seq)
            slope = rate_gradient(self, x_seq)
        finally:
            state.in_forward = False
        # Straight-through composition: the value is the spiking output, and the gradient of every
        # step's spike with respect to that step's input is the rate derivative of the mean input,
        # the same at every step.
        return spikes.detach() + (x_seq - x_seq.detach()) * slope.unsqueeze(0)

    return types.MethodType(forward, neuron)


def _guarded_step(neuron: BaseNeuron, state: _RateBackpropState, original: Any) -> Any:
    def step(self: BaseNeuron, x_t: Tensor, v: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if not state.in_forward:
            raise RuntimeError(
                f"rate-based backprop needs whole sequences, but {type(self).__name__}.step() was "
                "called one time step at a time; call the neuron on [T, B, ...] inputs, or attack "
                "this model with a 'bptt' estimator"
            )
        return original(x_t, v)

    return types.MethodType(step, neuron)


@contextlib.contextmanager
def rate_backprop(model: nn.Module) -> Iterator[list[_RateBackpropState]]:
    """Make every neuron in ``model`` back-propagate through its rate response inside the block.

    This is rate-based back-propagation (BPTR), one of the gradient estimators of "Enhancing
    Adversarial Robustness in SNNs with Sparse Gradients" (Liu et al., ICML 2024). The forward pass is
    the unchanged spiking forward. The backward pass replaces the temporal neuron by a function of
    its time-averaged input, so ``dL/dx[t] = dL/ds[t] * dr/dx_bar`` with the same factor at every
    step (see :func:`rate_gradient`). Parameters of the neuron itself receive no gradient inside the
    block.

    The neurons' methods are restored on exit, also when the block raises.

    Args:
        model: Any module that contains :class:`BaseNeuron` layers called on ``[T, B, ...]``
            sequences.

    Yields:
        One record per neuron with ``calls``, the number of sequence forwards it served.

    Raises:
        ValueError: If ``model`` contains no :class:`BaseNeuron`.
        RuntimeError: Inside the block, if the model calls a neuron's ``step`` directly, because the
            rate response needs the whole sequence.
    """
    neurons = _require_neurons(model, "rate-based backprop")
    states = [_RateBackpropState() for _ in neurons]
    patched: list[BaseNeuron] = []
    try:
        for neuron, state in zip(neurons, states):
            if "forward" in neuron.__dict__ or "step" in neuron.__dict__:
                raise RuntimeError(
                    f"{type(neuron).__name__} already has an instance-level forward or step, "
                    "for example from a rate_backprop block that is still open; close it first"
                )
            neuron.forward = _rate_forward(neuron, state, neuron.forward)  # type: ignore[method-assign]
            neuron.step = _guarded_step(neuron, state, neuron.step)  # type: ignore[method-assign]
            patched.append(neuron)
        yield states
    finally:
        for neuron in patched:
            del neuron.forward
            del neuron.step


@dataclass(frozen=True)
class GradientEstimator:
    """A way to differentiate a spiking model with respect to its input.

    Attributes:
        name: Label used in result tables, such as ``"bptt-triangle"``.
        method: ``"bptt"`` (through the surrogate) or ``"bptr"`` (rate-based).
        surrogate: For ``"bptt"``: ``{"name": ..., **config}`` of the surrogate to swap in, or None to
            keep the model's own surrogates.
    """

    name: str
    method: str = "bptt"
    surrogate: dict[str, Any] | None = field(default=None)

    def __post_init__(self) -> None:
        if self.method not in ("bptt", "bptr"):
            raise ValueError(f"invalid estimator method {self.method!r}; use 'bptt' or 'bptr'")
        if self.method == "bptr" and self.surrogate is not None:
            raise ValueError("the 'bptr' estimator uses no surrogate; set surrogate=None")

    @contextlib.contextmanager
    def applied(self, model: nn.Module) -> Iterator[None]:
        """Apply this estimator to ``model`` inside the block and undo it on exit."""
        if self.method == "bptr":
            with rate_backprop(model) as states:
                yield
            if not any(state.calls for state in states):
                logger.warning(
                    "estimator 'bptr' changed no neuron call of %s; its gradient is plain BPTT",
                    type(model).__name__,
                )
        elif self.surrogate is None:
            yield
        else:
            with swap_surrogate(model, self.surrogate):
                yield

    def to_dict(self) -> dict[str, Any]:
        """Return the estimator as a JSON-able dict."""
        return {"name": self.name, "method": self.method, "surrogate": self.surrogate}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GradientEstimator:
        """Build an estimator from :meth:`to_dict` output."""
        return cls(
            name=data["name"], method=data.get("method", "bptt"), surrogate=data.get("surrogate")
        )

    @classmethod
    def from_name(cls, name: str) -> GradientEstimator:
        """Build an estimator from ``"bptt"``, ``"bptr"`` or ``"bptt-<registered surrogate>"``.

        The surrogate takes its registered defaults, except the three used for robust evaluation in
        "Enhancing Adversarial Robustness in SNNs with Sparse Gradients": triangle with width 1,
        sigmoid with slope 4 and arctan with slope 2 (these equal snn_core's defaults).

        Raises:
            ValueError: If ``name`` has another form.
            UnknownNameError: If the surrogate is not registered.
        """
        if name == "bptr":
            return cls(name="bptr", method="bptr")
        if name == "bptt":
            return cls(name="bptt", method="bptt")
        prefix = "bptt-"
        if not name.startswith(prefix):
            raise ValueError(
                f"invalid gradient estimator {name!r}; use 'bptt', 'bptr' or 'bptt-<surrogate>' "
                f"with a registered surrogate ({', '.join(SURROGATES.names())})"
            )
        surrogate = resolve_surrogate(name[len(prefix) :])
        return cls(name=name, method="bptt", surrogate=surrogate_config(surrogate))


ENSEMBLE_ESTIMATORS: tuple[str, ...] = ("bptt-triangle", "bptt-sigmoid", "bptt-arctan", "bptr")
"""The four estimators whose worst case defines robust accuracy in the ensemble evaluation."""

# The ensemble's surrogate settings, written out so a changed registry default cannot change them.
_ENSEMBLE_SETTINGS: dict[str, dict[str, Any]] = {
    "bptt-triangle": {"name": "triangle", "width": 1.0},
    "bptt-sigmoid": {"name": "sigmoid", "alpha": 4.0},
    "bptt-arctan": {"name": "arctan", "alpha": 2.0},
}


def resolve_estimators(
    estimators: str | GradientEstimator | Sequence[str | GradientEstimator],
) -> list[GradientEstimator]:
    """Return estimator objects from names, objects, or ``"ensemble"`` (the four listed above).

    Raises:
        ValueError: If the list is empty or a name is invalid.
    """
    if isinstance(estimators, (str, GradientEstimator)):
        estimators = [estimators]
    resolved: list[GradientEstimator] = []
    for item in estimators:
        if isinstance(item, GradientEstimator):
            resolved.append(item)
        elif item == "ensemble":
            resolved.extend(resolve_estimators(list(ENSEMBLE_ESTIMATORS)))
        elif item in _ENSEMBLE_SETTINGS:
            resolved.append(GradientEstimator(item, "bptt", dict(_ENSEMBLE_SETTINGS[item])))
        else:
            resolved.append(GradientEstimator.from_name(item))
    if not resolved:
        raise ValueError("no gradient estimator given; use for example ['bptt'] or ['ensemble']")
    return resolved
