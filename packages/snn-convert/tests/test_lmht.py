import pytest
import torch
from torch import nn

from snn_convert import (
    LMHTNeuron,
    ReparameterizedLMHTNeuron,
    build_lmht_network,
    lmht_neurons,
    reparameterize_lmht,
    sum_sub_steps,
)
from snn_convert.models import VGG
from snn_core.registry import NEURONS


def _trained_like_neuron(level=2, steps=3, seed=0):
    torch.manual_seed(seed)
    neuron = LMHTNeuron(level=level, time_steps=steps)
    with torch.no_grad():
        neuron.leak_logit.fill_(0.8)
        neuron.mixing_logits.normal_()
    return neuron


def test_lmht_defaults_follow_level():
    neuron = LMHTNeuron(level=4, time_steps=2)
    assert float(neuron.v_threshold) == 0.5
    assert float(neuron.leak.detach()) == 1.0
    assert torch.allclose(neuron.mixing_weights, torch.full((2, 2), 0.5))


@pytest.mark.parametrize("shape", [(3, 4, 5), (3, 2, 3, 4), (3, 2, 3, 4, 4)])
def test_lmht_forward_equals_stepped_prepared_sequence(shape):
    neuron = _trained_like_neuron(steps=shape[0])
    x = torch.randn(*shape) * 2
    prepared = neuron.prepare_sequence(x)
    state, outputs = None, []
    for t in range(shape[0]):
        output, state = neuron.step(prepared[t], state)
        outputs.append(output)
    assert torch.equal(neuron(x), torch.stack(outputs))


@pytest.mark.parametrize("shape", [(3, 4, 5), (3, 2, 6, 4), (3, 2, 3, 4, 4)])
def test_lmht_mixing_only_mixes_time(shape):
    neuron = _trained_like_neuron(steps=shape[0])
    x = torch.randn(*shape)
    weights = neuron.mixing_weights.detach()
    expected = torch.stack(
        [sum(weights[t, j] * x[j] for j in range(shape[0])) for t in range(shape[0])]
    )
    assert torch.allclose(neuron.prepare_sequence(x), expected, atol=1e-6)


def test_lmht_emits_levels_and_soft_resets():
    neuron = LMHTNeuron(level=2, time_steps=2)  # theta = 1, uniform mixing, leak 1
    x = torch.tensor([[2.5, 0.4], [2.5, 0.4]])  # mixed input equals x
    out = neuron(x.unsqueeze(-1)).squeeze(-1)
    # step 1: m = 2.5 -> 2 levels, v = 0.5; step 2: m = 3.0 -> capped at 2, v = 1.0
    assert out[:, 0].tolist() == [2.0, 2.0]
    # 0.4 then 0.8: below threshold both times
    assert out[:, 1].tolist() == [0.0, 0.0]


def test_lmht_surrogate_window():
    neuron = LMHTNeuron(level=2, time_steps=1, v_threshold=1.0)
    x = torch.tensor([[0.4, 0.6, 2.4, 2.6]], requires_grad=True)
    neuron(x).sum().backward()
    # d out / d m is 1 on [0.5, 2.5] theta; the single-step mixing weight is 2 sigmoid(0) / 1 = 1
    assert x.grad.tolist() == [[0.0, 1.0, 1.0, 0.0]]


def test_lmht_leak_and_mixing_receive_gradients():
    neuron = LMHTNeuron(level=2, time_steps=3)
    x = torch.rand(3, 8, 4) * 2
    neuron(x).sum().backward()
    assert neuron.leak_logit.grad is not None and float(neuron.leak_logit.grad.abs()) > 0
    assert neuron.mixing_logits.grad.abs().sum() > 0


def test_lmht_registered_and_rebuilds_from_config():
    neuron = _trained_like_neuron()
    assert NEURONS.get("lmht") is LMHTNeuron
    rebuilt = NEURONS.build("lmht", **neuron.config())
    x = torch.randn(3, 4, 5)
    assert torch.equal(rebuilt(x), neuron(x))


def test_lmht_rejects_wrong_sequence_length():
    with pytest.raises(ValueError, match="T=2"):
        LMHTNeuron(level=2, time_steps=2)(torch.zeros(3, 1, 4))


@pytest.mark.parametrize("level", [2, 4])
def test_reparameterized_neuron_spike_counts_equal_levels(level):
    neuron = _trained_like_neuron(level=level, steps=3, seed=level)
    x = torch.rand(3, 2000) * 2.0 * float(neuron.v_threshold) * level
    levels = neuron(x).detach() / float(neuron.v_threshold)
    if_form = ReparameterizedLMHTNeuron.from_lmht(neuron)
    # each LM-HT step's input is spread evenly over its block of L sub-steps
    x_sub = x.repeat_interleave(level, dim=0) / level
    spikes = if_form(x_sub) / float(neuron.v_threshold)
    counts = spikes.reshape(3, level, -1).sum(1)
    assert torch.equal(counts, levels)


def _random_lmht_network(seed=0):
    torch.manual_seed(seed)
    ann = VGG([8, "M", 16, "M"], in_channels=1, num_classes=10, image_size=8, hidden=(32,))
    network = build_lmht_network(ann, level=2, time_steps=2)
    with torch.no_grad():
        for module in network.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(0.0, 0.5)
                module.momentum = None
                module.reset_running_stats()
            elif isinstance(module, nn.Linear):
                module.bias.uniform_(0.0, 0.3)
                module.weight.mul_(3.0)
        for neuron in lmht_neurons(network):
            neuron.leak_logit.fill_(0.7)
            neuron.mixing_logits.normal_()
    x = torch.rand(64, 1, 8, 8)
    network.train()(x)  # running statistics of the batch norms
    return network.eval(), x


def test_reparameterized_network_equals_lmht_network():
    network, x = _random_lmht_network()
    rates = []
    hooks = [
        n.register_forward_hook(lambda m, i, o: rates.append(float((o > 0).float().mean())))
        for n in lmht_neurons(network)
    ]
    with torch.no_grad():
        logits = network(x)
    for hook in hooks:
        hook.remove()
    assert all(rate > 0.02 for rate in rates)  # every layer is active, so the check has teeth
    reparameterized = reparameterize_lmht(network)
    with torch.no_grad():
        sub_logits = reparameterized(x)
    assert sub_logits.shape == (4, 64, 10)
    assert torch.allclose(sum_sub_steps(sub_logits, 2), logits, atol=1e-4)
    assert torch.equal(sub_logits.sum(0).argmax(-1), logits.sum(0).argmax(-1))


def test_reparameterized_neuron_keeps_core_contract():
    neuron = ReparameterizedLMHTNeuron.from_lmht(_trained_like_neuron(level=2, steps=2))
    x = torch.randn(4, 3, 5)
    prepared = neuron.prepare_sequence(x)
    state, outputs = None, []
    for t in range(4):
        output, state = neuron.step(prepared[t], state)
        outputs.append(output)
    assert torch.equal(neuron(x), torch.stack(outputs))


def _block_counts(if_form, inputs, level):
    # Feed each LM-HT input I[t] to the IF form as L sub-steps of I[t] / L and count block spikes.
    state, counts = None, []
    for current in inputs:
        count = torch.zeros_like(current)
        for _ in range(level):
            spike, state = if_form.step(current / level, state)
            count = count + spike / float(if_form.v_threshold)
        counts.append(count)
    return torch.stack(counts)


def _lmht_levels(neuron, inputs):
    state, levels = None, []
    with torch.no_grad():
        for current in inputs:
            output, state = neuron.step(current, state)
            levels.append(output / float(neuron.v_threshold))
    return torch.stack(levels)


def test_reparameterized_counts_equal_nonnegative_inputs():
    neuron = _trained_like_neuron(level=4, steps=3, seed=1)
    neuron.set_initial_potential(torch.rand(5000) * 3.0)  # includes leaked potentials >= theta
    inputs = torch.rand(3, 5000, dtype=torch.float64) * 6.0  # includes inputs above L * theta
    neuron.double()
    if_form = ReparameterizedLMHTNeuron.from_lmht(neuron).double()
    assert torch.equal(_block_counts(if_form, inputs, 4), _lmht_levels(neuron, inputs))


@pytest.mark.parametrize(
    ("v_init", "inputs", "lmht_levels", "if_counts"),
    [
        # leaked potential 1.5 >= theta, then a negative input: the IF form fires once first
        (1.5, [-1.0], [0.0], [1.0]),
        # negative potential, then an input above L * theta: the IF form misses one spike
        (-0.5, [2.5], [2.0], [1.0]),
    ],
)
def test_reparameterized_counts_differ_exact_arithmetic(v_init, inputs, lmht_levels, if_counts):
    neuron = LMHTNeuron(level=2, time_steps=len(inputs), v_threshold=1.0, v_init=v_init).double()
    if_form = ReparameterizedLMHTNeuron.from_lmht(neuron).double()
    currents = torch.tensor(inputs, dtype=torch.float64).reshape(-1, 1)
    assert _lmht_levels(neuron, currents).flatten().tolist() == lmht_levels
    assert _block_counts(if_form, currents, 2).flatten().tolist() == if_counts


def test_reparameterized_float32_rounding_flips_spike():
    # In exact arithmetic 0.82367456 + 0.17632540 < 1 (theta). In float32, (v + I/2) + I/2 rounds
    # up to 1.0 while v + I rounds below it, so only the IF form fires. Float64 removes the tie.
    v_init, current = 0.8236745595932007, 0.17632539570331573
    for dtype, expected_if_count in ((torch.float32, 1.0), (torch.float64, 0.0)):
        neuron = LMHTNeuron(level=2, time_steps=1, v_threshold=1.0, v_init=v_init).to(dtype)
        if_form = ReparameterizedLMHTNeuron.from_lmht(neuron).to(dtype)
        currents = torch.tensor([[current]], dtype=dtype)
        assert float(_lmht_levels(neuron, currents)) == 0.0
        assert float(_block_counts(if_form, currents, 2)) == expected_if_count


def test_reparameterized_neuron_keeps_float64_mixing():
    neuron = _trained_like_neuron(level=2, steps=3).double()
    if_form = ReparameterizedLMHTNeuron.from_lmht(neuron)
    assert if_form.mixing_weights.dtype == torch.float64
    assert torch.equal(if_form.mixing_weights, neuron.mixing_weights.detach())
