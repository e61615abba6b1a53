"""IF and LIF against membrane traces computed by hand."""

from __future__ import annotations

import pytest
import torch

from snn_core.neuron import IFNeuron, LIFNeuron

BACKENDS = ["reference", "fused"]
INPUT = torch.tensor([0.6, 0.6, 0.6, 0.0, 1.5]).view(5, 1, 1)


def spikes_and_potentials(
    neuron: IFNeuron | LIFNeuron, x: torch.Tensor
) -> tuple[list[float], list[float]]:
    state = None
    spikes, potentials = [], []
    for t in range(x.shape[0]):
        spike, state = neuron.step(x[t], state)
        spikes.append(float(spike))
        potentials.append(round(float(state), 6))
    return spikes, potentials


@pytest.mark.parametrize(
    ("reset_mode", "spikes", "potentials"),
    [
        # h: 0.6, 1.2 -> fire, then 0.6 + 0.6 ...
        ("hard", [0, 1, 0, 0, 1], [0.6, 0.0, 0.6, 0.6, 0.0]),
        ("soft", [0, 1, 0, 0, 1], [0.6, 0.2, 0.8, 0.8, 1.3]),
        ("none", [0, 1, 1, 1, 1], [0.6, 1.2, 1.8, 1.8, 3.3]),
    ],
)
def test_if_trace(reset_mode: str, spikes: list[float], potentials: list[float]) -> None:
    neuron = IFNeuron(reset_mode=reset_mode)
    got_spikes, got_potentials = spikes_and_potentials(neuron, INPUT)
    assert got_spikes == spikes
    assert got_potentials == pytest.approx(potentials)
    for backend in BACKENDS:
        multistep = IFNeuron(reset_mode=reset_mode, backend=backend)(INPUT).flatten().tolist()
        assert multistep == spikes


@pytest.mark.parametrize(
    ("reset_mode", "spikes", "potentials"),
    [
        # tau = 2, decay_input: h = v + (x - v) / 2 = (v + x) / 2
        # t0: h = 0.3; t1: h = 0.45; t2: h = 0.525; t3: h = 0.2625; t4: h = 0.88125
        ("hard", [0, 0, 0, 0, 0], [0.3, 0.45, 0.525, 0.2625, 0.88125]),
    ],
)
def test_lif_trace_below_threshold(
    reset_mode: str, spikes: list[float], potentials: list[float]
) -> None:
    neuron = LIFNeuron(tau=2.0, reset_mode=reset_mode)
    got_spikes, got_potentials = spikes_and_potentials(neuron, INPUT)
    assert got_spikes == spikes
    assert got_potentials == pytest.approx(potentials)


LIF_INPUT = torch.tensor([2.4, 0.4, 1.8, 0.0], dtype=torch.float64).view(4, 1, 1)


@pytest.mark.parametrize(
    ("reset_mode", "spikes", "potentials"),
    [
        # tau = 2, decay_input: h = (v + x) / 2
        # hard: h 1.2 fire -> 0; h 0.2; h (0.2+1.8)/2 = 1.0 fire (tie fires) -> 0; h 0
        ("hard", [1, 0, 1, 0], [0.0, 0.2, 0.0, 0.0]),
        # soft: h 1.2 fire -> 0.2; h 0.3; h 1.05 fire -> 0.05; h 0.025
        ("soft", [1, 0, 1, 0], [0.2, 0.3, 0.05, 0.025]),
        # none: h 1.2 fire; h 0.8; h 1.3 fire; h 0.65
        ("none", [1, 0, 1, 0], [1.2, 0.8, 1.3, 0.65]),
    ],
)
def test_lif_trace(reset_mode: str, spikes: list[float], potentials: list[float]) -> None:
    neuron = LIFNeuron(tau=2.0, reset_mode=reset_mode)
    got_spikes, got_potentials = spikes_and_potentials(neuron, LIF_INPUT)
    assert got_spikes == spikes
    assert got_potentials == pytest.approx(potentials)
    for backend in BACKENDS:
        multistep = LIFNeuron(tau=2.0, reset_mode=reset_mode, backend=backend)(LIF_INPUT)
        assert multistep.flatten().tolist() == spikes


def test_lif_without_input_decay() -> None:
    # decay_input=False, tau = 4, v_reset = 0: h = v - v / 4 + x
    neuron = LIFNeuron(tau=4.0, decay_input=False, reset_mode="none")
    _, potentials = spikes_and_potentials(
        neuron, torch.tensor([0.4, 0.4, 0.0]).view(3, 1, 1).double()
    )
    assert potentials == pytest.approx([0.4, 0.7, 0.525])


def test_leak_decays_towards_v_reset() -> None:
    neuron = LIFNeuron(tau=2.0, v_reset=-0.2, v_init=0.6, reset_mode="hard")
    _, potentials = spikes_and_potentials(neuron, torch.zeros(2, 1, 1, dtype=torch.float64))
    assert potentials == pytest.approx([0.2, 0.0])


def test_threshold_tie_fires() -> None:
    neuron = IFNeuron(v_threshold=1.0)
    spike, _ = neuron.step(torch.tensor([[1.0]]))
    assert float(spike) == 1.0


def test_per_sample_initial_potential() -> None:
    neuron = IFNeuron(reset_mode="soft", v_init=torch.tensor([[0.0], [0.5]]))
    spikes = neuron(torch.full((1, 2, 1), 0.6))
    assert spikes.flatten().tolist() == [0.0, 1.0]


def test_initial_potential_shape_mismatch_is_rejected() -> None:
    neuron = IFNeuron(v_init=torch.zeros(3))
    with pytest.raises(ValueError, match="v_init of shape"):
        neuron(torch.zeros(2, 4, 5))


def test_invalid_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="reset_mode"):
        IFNeuron(reset_mode="bounce")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tau"):
        LIFNeuron(tau=0.5)
    with pytest.raises(ValueError, match="backend"):
        IFNeuron(backend="cuda")  # type: ignore[arg-type]


def test_step_rejects_state_of_wrong_shape() -> None:
    with pytest.raises(ValueError, match="state of shape"):
        IFNeuron().step(torch.zeros(3, 4), torch.zeros(5, 3, 4))
