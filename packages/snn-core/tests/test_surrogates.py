from __future__ import annotations

import math

import pytest
import torch

from snn_core.registry import SURROGATES
from snn_core.surrogate import resolve_surrogate, surrogate_config

POINTS = torch.tensor(
    [-2.0, -0.75, -0.5, -0.25, -0.1, 0.0, 0.1, 0.25, 0.4999, 0.75, 1.0, 3.0], dtype=torch.float64
)


def documented(name: str, u: float, parameter: float | None) -> float:
    """The derivative formulas written in each class's docstring, computed independently."""
    if name == "sigmoid":
        sig = 1.0 / (1.0 + math.exp(-parameter * u))
        return parameter * sig * (1.0 - sig)
    if name == "arctan":
        return (parameter / 2.0) / (1.0 + (math.pi * parameter * u / 2.0) ** 2)
    if name == "triangle":
        return max(parameter - abs(u), 0.0) / parameter**2
    if name == "rectangle":
        return 1.0 / parameter if abs(u) < parameter / 2.0 else 0.0
    if name == "straight-through":
        return 1.0 if parameter is None or abs(u) <= parameter else 0.0
    raise AssertionError(name)


CASES = [
    ("sigmoid", {"alpha": 4.0}, 4.0),
    ("sigmoid", {"alpha": 1.5}, 1.5),
    ("arctan", {"alpha": 2.0}, 2.0),
    ("arctan", {"alpha": 5.0}, 5.0),
    ("triangle", {"width": 1.0}, 1.0),
    ("triangle", {"width": 0.5}, 0.5),
    ("rectangle", {"width": 1.0}, 1.0),
    ("rectangle", {"width": 2.0}, 2.0),
    ("straight-through", {}, None),
    ("straight-through", {"width": 0.5}, 0.5),
]


@pytest.mark.parametrize(("name", "settings", "parameter"), CASES)
def test_surrogate_gradient_matches_formula(
    name: str, settings: dict, parameter: float | None
) -> None:
    surrogate = SURROGATES.build(name, **settings)
    u = POINTS.clone().requires_grad_()
    spikes = surrogate(u)
    spikes.sum().backward()
    expected = torch.tensor(
        [documented(name, float(point), parameter) for point in POINTS], dtype=torch.float64
    )
    assert torch.allclose(u.grad, expected, atol=1e-12)


@pytest.mark.parametrize("name", ["sigmoid", "arctan", "triangle", "rectangle", "straight-through"])
def test_surrogate_forward_is_heaviside(name: str) -> None:
    spikes = SURROGATES.build(name)(POINTS)
    assert torch.equal(spikes, (POINTS >= 0).double())


@pytest.mark.parametrize("name", ["sigmoid", "arctan", "triangle", "rectangle", "straight-through"])
def test_surrogate_config_round_trip(name: str) -> None:
    surrogate = SURROGATES.build(name)
    assert resolve_surrogate(surrogate_config(surrogate)) == surrogate


def test_surrogate_rejects_nonpositive_width() -> None:
    with pytest.raises(ValueError, match="positive"):
        SURROGATES.build("triangle", width=0.0)
