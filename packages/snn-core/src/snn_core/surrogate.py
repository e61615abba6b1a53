"""Surrogate gradients: a Heaviside step forward, a smooth derivative backward.

Every surrogate maps ``u = h - threshold`` to a spike ``H(u)`` (1 where ``u >= 0``, else 0) and, in the
backward pass, multiplies the incoming gradient by ``derivative(u)``. The derivatives are the ones
SpikingJelly and the ANN-to-SNN literature use; each formula is written next to its class.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import Tensor

from snn_core._checks import real
from snn_core.registry import SURROGATES

__all__ = [
    "ArcTan",
    "Rectangle",
    "Sigmoid",
    "StraightThrough",
    "Surrogate",
    "Triangle",
    "heaviside",
    "resolve_surrogate",
]


def heaviside(u: Tensor) -> Tensor:
    """Return ``H(u)``: 1 where ``u >= 0`` and 0 elsewhere, in ``u``'s dtype."""
    return (u >= 0).to(u.dtype)


class _SurrogateSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, u: Tensor, surrogate: Surrogate) -> Tensor:
        ctx.save_for_backward(u)
        ctx.surrogate = surrogate
        return heaviside(u)

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor, None]:
        (u,) = ctx.saved_tensors
        return grad_output * ctx.surrogate.derivative(u), None


class Surrogate:
    """Base class: Heaviside forward, ``derivative(u)`` backward.

    Subclasses set ``name`` and implement :meth:`derivative`. Instances are stateless and cheap, so
    every neuron owns its own.
    """

    name: ClassVar[str]

    def __call__(self, u: Tensor) -> Tensor:
        """Return the spike ``H(u)`` with the surrogate gradient attached.

        Args:
            u: Membrane potential minus threshold, any shape.
        """
        return _SurrogateSpike.apply(u, self)

    def derivative(self, u: Tensor) -> Tensor:
        """Return the surrogate of ``dH/du`` at ``u``, elementwise."""
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """Return the constructor arguments as a JSON-able dict."""
        return {}

    def __repr__(self) -> str:
        arguments = ", ".join(f"{key}={value}" for key, value in self.config().items())
        return f"{type(self).__name__}({arguments})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.config() == other.config()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(self.config().items()))))


def _positive(name: str, value: float) -> float:
    return real(f"surrogate {name}", value, positive=True)


@SURROGATES.register("sigmoid")
class Sigmoid(Surrogate):
    """Sigmoid surrogate: ``dH/du ~ alpha * sigmoid(alpha u) * (1 - sigmoid(alpha u))``.

    Args:
        alpha: Slope. The derivative peaks at ``alpha / 4`` and its width is about ``4 / alpha``.
    """

    name = "sigmoid"

    def __init__(self, alpha: float = 4.0) -> None:
        self.alpha = _positive("alpha", alpha)

    def derivative(self, u: Tensor) -> Tensor:
        sig = torch.sigmoid(self.alpha * u)
        return torch.addcmul(sig, sig, sig, value=-1.0).mul_(self.alpha)  # alpha (sig - sig^2)

    def config(self) -> dict[str, Any]:
        return {"alpha": self.alpha}


@SURROGATES.register("arctan")
class ArcTan(Surrogate):
    """Arctangent surrogate: ``dH/du ~ (alpha / 2) / (1 + (pi alpha u / 2)^2)``.

    Args:
        alpha: Slope. The derivative peaks at ``alpha / 2``; SpikingJelly's default is 2.
    """

    name = "arctan"

    def __init__(self, alpha: float = 2.0) -> None:
        self.alpha = _positive("alpha", alpha)

    def derivative(self, u: Tensor) -> Tensor:
        scaled = (math.pi / 2.0 * self.alpha) * u
        return scaled.mul_(scaled).add_(1.0).reciprocal_().mul_(self.alpha / 2.0)

    def config(self) -> dict[str, Any]:
        return {"alpha": self.alpha}


@SURROGATES.register("triangle")
class Triangle(Surrogate):
    """Triangle surrogate: ``dH/du ~ max(width - |u|, 0) / width^2``.

    Args:
        width: Half-width of the support; the derivative peaks at ``1 / width`` and integrates to 1.
    """

    name = "triangle"

    def __init__(self, width: float = 1.0) -> None:
        self.width = _positive("width", width)

    def derivative(self, u: Tensor) -> Tensor:
        return torch.clamp(self.width - u.abs(), min=0.0) / (self.width * self.width)

    def config(self) -> dict[str, Any]:
        return {"width": self.width}


@SURROGATES.register("rectangle")
class Rectangle(Surrogate):
    """Rectangle surrogate: ``dH/du ~ 1 / width`` where ``|u| < width / 2``, else 0.

    Args:
        width: Full width of the support; the derivative integrates to 1.
    """

    name = "rectangle"

    def __init__(self, width: float = 1.0) -> None:
        self.width = _positive("width", width)

    def derivative(self, u: Tensor) -> Tensor:
        return (u.abs() < self.width / 2.0).to(u.dtype) / self.width

    def config(self) -> dict[str, Any]:
        return {"width": self.width}


@SURROGATES.register("straight-through")
class StraightThrough(Surrogate):
    """Straight-through estimator: ``dH/du ~ 1``, or 1 only where ``|u| <= width`` when width is set.

    Args:
        width: Optional clip of the support. None passes the gradient everywhere.
    """

    name = "straight-through"

    def __init__(self, width: float | None = None) -> None:
        self.width = None if width is None else _positive("width", width)

    def derivative(self, u: Tensor) -> Tensor:
        if self.width is None:
            return torch.ones_like(u)
        return (u.abs() <= self.width).to(u.dtype)

    def config(self) -> dict[str, Any]:
        return {"width": self.width}


def resolve_surrogate(surrogate: str | Surrogate | dict[str, Any]) -> Surrogate:
    """Return a surrogate instance from an instance, a registered name or ``{"name": ..., **config}``.

    Raises:
        UnknownNameError: If the name is not registered.
        TypeError: If ``surrogate`` is of another type.
    """
    if isinstance(surrogate, Surrogate):
        return surrogate
    if isinstance(surrogate, str):
        return SURROGATES.build(surrogate)
    if isinstance(surrogate, dict):
        settings = dict(surrogate)
        name = settings.pop("name", None)
        if name is None:
            raise ValueError(f"surrogate dict {surrogate!r} has no 'name' key, such as 'arctan'")
        return SURROGATES.build(name, **settings)
    raise TypeError(
        f"surrogate must be a Surrogate, a registered name or a dict, got {type(surrogate).__name__}"
    )


def surrogate_config(surrogate: Surrogate) -> dict[str, Any]:
    """Return ``{"name": ..., **config}`` for a registered surrogate, the inverse of resolve."""
    return {"name": surrogate.name, **surrogate.config()}
