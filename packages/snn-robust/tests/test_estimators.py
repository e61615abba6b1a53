"""Gradient estimators: surrogate swaps, rate-based backprop, and the ensemble names."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from snn_core.neuron import IFNeuron, LIFNeuron
from snn_core.surrogate import ArcTan, Sigmoid, Triangle
from snn_robust import (
    ENSEMBLE_ESTIMATORS,
    GradientEstimator,
    fgsm,
    input_gradient,
    rate_backprop,
    rate_gradient,
    resolve_estimators,
    swap_surrogate,
)


def test_swap_surrogate_replaces_and_restores(tiny_snn):
    original = tiny_snn.neuron.surrogate
    with swap_surrogate(tiny_snn, "triangle"):
        assert isinstance(tiny_snn.neuron.surrogate, Triangle)
    assert tiny_snn.neuron.surrogate is original


def test_swap_surrogate_restores_after_error(tiny_snn):
    original = tiny_snn.neuron.surrogate
    with pytest.raises(RuntimeError, match="inside"), swap_surrogate(tiny_snn, "sigmoid"):
        raise RuntimeError("failure inside the block")
    assert tiny_snn.neuron.surrogate is original


class _FailingModel(nn.Module):
    """Wraps a model and raises on the forward pass, after the estimator has been applied."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.seen: list[object] = []

    def forward(self, x):
        self.seen.append(self.inner.neuron.surrogate)
        raise RuntimeError("forward failed")


def test_attack_restores_surrogate_after_error(tiny_snn, tiny_batch):
    images, labels = tiny_batch
    wrapper = _FailingModel(tiny_snn)
    original = tiny_snn.neuron.surrogate
    with pytest.raises(RuntimeError, match="forward failed"):
        fgsm(wrapper, images, labels, 0.1, estimator="bptt-sigmoid")
    assert isinstance(wrapper.seen[0], Sigmoid)
    assert tiny_snn.neuron.surrogate is original
    assert wrapper.training  # attack_mode restored train mode too


@pytest.mark.parametrize("backend", ["reference", "fused"])
@pytest.mark.parametrize(
    ("name", "surrogate"),
    [
        ("bptt-triangle", Triangle(1.0)),
        ("bptt-sigmoid", Sigmoid(4.0)),
        ("bptt-arctan", ArcTan(2.0)),
    ],
)
def test_swapped_gradient_equals_built_surrogate(tiny_snn, tiny_batch, backend, name, surrogate):
    images, labels = tiny_batch
    tiny_snn.neuron.backend = backend
    swapped, _ = input_gradient(tiny_snn, images, labels, name)
    tiny_snn.neuron.surrogate = surrogate
    built, _ = input_gradient(tiny_snn, images, labels, "bptt")
    assert built.abs().sum() > 0
    torch.testing.assert_close(swapped, built)


def test_surrogates_give_different_gradients(tiny_snn, tiny_batch):
    images, labels = tiny_batch
    triangle, _ = input_gradient(tiny_snn, images, labels, "bptt-triangle")
    sigmoid, _ = input_gradient(tiny_snn, images, labels, "bptt-sigmoid")
    assert not torch.allclose(triangle, sigmoid)


def test_rate_gradient_of_if_neuron_matches_rate_curve():
    neuron = IFNeuron(v_threshold=1.0, reset_mode="hard")
    # mean inputs: well below, inside the firing range, at saturation, far above
    x_bar = torch.tensor([[-2.0, 0.5, 1.5, 3.0]])
    x_seq = x_bar.expand(8, 1, 4)
    slope = rate_gradient(neuron, x_seq)
    # r(c) for hard-reset IF over 8 steps: r(1.5)=1, r(-0.5)=0 -> 0.5; r(2.5)=1, r(0.5)=0.5 -> 0.25
    torch.testing.assert_close(slope, torch.tensor([[0.0, 0.5, 0.25, 0.0]]))


def test_rate_backprop_keeps_forward_and_uses_rate_slope():
    neuron = IFNeuron(v_threshold=1.0)
    x_seq = torch.tensor([[0.5, 3.0]]).expand(4, 1, 2).clone().requires_grad_(True)
    expected_spikes = neuron(x_seq).detach()
    with rate_backprop(nn.Sequential(neuron)):
        spikes = neuron(x_seq)
        (grad,) = torch.autograd.grad(spikes.sum(), x_seq)
    torch.testing.assert_close(spikes, expected_spikes)
    slope = rate_gradient(neuron, x_seq)
    torch.testing.assert_close(grad, slope.unsqueeze(0).expand(4, 1, 2))
    assert grad[0, 0, 0] == pytest.approx(0.5)
    assert grad[0, 0, 1] == 0.0


def test_rate_backprop_restores_methods(tiny_snn, tiny_batch):
    images, labels = tiny_batch
    with rate_backprop(tiny_snn) as states:
        input_gradient(tiny_snn, images, labels, "bptt")
    assert states[0].calls == 1
    assert "forward" not in tiny_snn.neuron.__dict__
    assert "step" not in tiny_snn.neuron.__dict__


def test_rate_backprop_rejects_stepwise_models():
    class Stepwise(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.neuron = LIFNeuron()

        def forward(self, x):
            spike, _ = self.neuron.step(x)
            return spike

    model = Stepwise()
    with pytest.raises(RuntimeError, match="whole sequences"), rate_backprop(model):
        model(torch.rand(2, 3))
    assert "step" not in model.neuron.__dict__


def test_rate_backprop_gives_nonzero_input_gradient(tiny_snn, tiny_batch):
    images, labels = tiny_batch
    grad, _ = input_gradient(tiny_snn, images, labels, "bptr")
    assert grad.abs().sum() > 0


def test_estimators_need_neurons():
    with (
        pytest.raises(ValueError, match="no snn_core BaseNeuron"),
        swap_surrogate(nn.Linear(2, 2), "triangle"),
    ):
        pass


def test_ensemble_names_and_settings():
    estimators = resolve_estimators("ensemble")
    assert [estimator.name for estimator in estimators] == list(ENSEMBLE_ESTIMATORS)
    assert estimators[0].surrogate == {"name": "triangle", "width": 1.0}
    assert estimators[1].surrogate == {"name": "sigmoid", "alpha": 4.0}
    assert estimators[2].surrogate == {"name": "arctan", "alpha": 2.0}
    assert estimators[3].method == "bptr"


def test_estimator_round_trips_to_dict():
    estimator = GradientEstimator.from_name("bptt-rectangle")
    assert GradientEstimator.from_dict(estimator.to_dict()) == estimator


def test_invalid_estimator_name_lists_forms():
    with pytest.raises(ValueError, match="bptt-<surrogate>"):
        resolve_estimators("fgsm")
