"""The contract every registered neuron keeps, parametrized over the registry (plugins included)."""

from __future__ import annotations

import json

import pytest
import torch

from snn_core.neuron import BaseNeuron
from snn_core.registry import NEURONS, SURROGATES

NEURON_NAMES = NEURONS.names()


def build(name: str, **settings: object) -> BaseNeuron:
    neuron = NEURONS.build(name, **settings)
    assert isinstance(neuron, BaseNeuron)
    return neuron


def sequence(neuron: BaseNeuron, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A [T, B, C, N] input; a neuron built for a fixed number of steps gets its sequence_length."""
    time_steps = neuron.sequence_length or 4
    return torch.randn(time_steps, 3, 2, 5, dtype=dtype) * 1.5 + 0.6


@pytest.mark.parametrize("name", NEURON_NAMES)
def test_multistep_equals_step_loop(name: str) -> None:
    neuron = build(name)
    x = sequence(neuron)
    expected = neuron(x)
    prepared = neuron.prepare_sequence(x)
    state = None
    steps = []
    for t in range(x.shape[0]):
        spike, state = neuron.step(prepared[t], state)
        steps.append(spike)
    assert torch.allclose(torch.stack(steps), expected, atol=1e-6)


@pytest.mark.parametrize("name", NEURON_NAMES)
def test_repeated_calls_start_fresh(name: str) -> None:
    neuron = build(name)
    x = sequence(neuron)
    first = neuron(x)
    second = neuron(x)
    assert torch.equal(first, second)


@pytest.mark.parametrize("name", NEURON_NAMES)
def test_float64_in_float64_out(name: str) -> None:
    neuron = build(name).double()
    x = sequence(neuron, torch.float64).requires_grad_()
    spikes = neuron(x)
    assert spikes.dtype == torch.float64
    spikes.sum().backward()
    assert x.grad is not None
    assert x.grad.dtype == torch.float64


@pytest.mark.parametrize("name", NEURON_NAMES)
@pytest.mark.parametrize("surrogate", SURROGATES.names())
def test_gradient_flows_with_every_surrogate(name: str, surrogate: str) -> None:
    neuron = build(name, surrogate=surrogate)
    x = sequence(neuron).requires_grad_()
    neuron(x).sum().backward()
    assert x.grad is not None
    assert torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0


@pytest.mark.parametrize("name", NEURON_NAMES)
def test_config_round_trips_through_registry(name: str) -> None:
    neuron = build(name)
    config = json.loads(json.dumps(neuron.config()))
    rebuilt = NEURONS.build(name, **config)
    assert type(rebuilt) is type(neuron)
    assert rebuilt.config() == neuron.config()
    rebuilt.load_state_dict(neuron.state_dict())
    x = sequence(neuron)
    assert torch.equal(rebuilt(x), neuron(x))


@pytest.mark.parametrize("name", NEURON_NAMES)
def test_bfloat16_autocast_keeps_dtype(name: str) -> None:
    neuron = build(name)
    x = sequence(neuron)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        spikes = neuron(x.to(torch.bfloat16))
    assert spikes.dtype == torch.bfloat16
    assert torch.isfinite(spikes.float()).all()


@pytest.mark.parametrize("name", NEURON_NAMES)
def test_spike_kind_is_declared(name: str) -> None:
    assert build(name).spike_kind in ("binary", "multilevel", "float")


@pytest.mark.parametrize("name", NEURON_NAMES)
def test_rejects_input_without_time_axis(name: str) -> None:
    with pytest.raises(ValueError, match=r"\[T, B, \.\.\.\]"):
        build(name)(torch.randn(5))
