"""The gradient-sparsity regularizer: two-class probability, finite difference, loss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from snn_robust import (
    RegularizerConfig,
    regularized_loss,
    sign_finite_difference,
    two_class_probability,
)


def _smooth_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 12), nn.Tanh(), nn.Linear(12, 4)).double()


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(2)
    images = torch.rand(5, 1, 4, 4, generator=generator, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 3, 1])
    return images, labels


def _l1_of_gradient(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    x = images.clone().requires_grad_(True)
    probability, _ = two_class_probability(model(x), labels)
    (grad,) = torch.autograd.grad(probability.sum(), x)
    return grad.flatten(1).abs().sum(1)


def test_two_class_probability_matches_pairwise_softmax():
    logits = torch.tensor([[2.0, 0.5, 1.0], [0.0, 3.0, -1.0]])
    labels = torch.tensor([0, 2])
    probability, competitor = two_class_probability(logits, labels)
    assert competitor.tolist() == [2, 1]
    expected_first = torch.softmax(torch.tensor([2.0, 1.0]), 0)[0]
    expected_second = torch.softmax(torch.tensor([-1.0, 3.0]), 0)[0]
    torch.testing.assert_close(probability, torch.stack([expected_first, expected_second]))


def test_two_class_probability_reuses_given_competitor():
    logits = torch.tensor([[2.0, 0.5, 1.0]])
    probability, competitor = two_class_probability(logits, torch.tensor([0]), torch.tensor([1]))
    assert competitor.tolist() == [1]
    torch.testing.assert_close(probability, torch.sigmoid(torch.tensor([1.5])))


def test_two_class_probability_rejects_one_class():
    with pytest.raises(ValueError, match="K >= 2"):
        two_class_probability(torch.zeros(3, 1), torch.zeros(3, dtype=torch.long))


def test_finite_difference_approximates_l1_norm_to_first_order():
    model = _smooth_model()
    images, labels = _batch()
    exact = _l1_of_gradient(model, images, labels)
    errors = {}
    for h in (1e-2, 1e-3, 1e-4):
        difference, _ = sign_finite_difference(model, images, labels, h)
        errors[h] = (difference.detach() - exact).abs()
    assert exact.min() > 1e-3  # a non-trivial gradient
    # The error is h/2 * v^T H v + O(h^2): it shrinks about tenfold per tenfold smaller h.
    assert torch.all(errors[1e-3] <= 0.15 * errors[1e-2] + 1e-9)
    assert torch.all(errors[1e-4] <= 0.15 * errors[1e-3] + 1e-9)
    assert torch.all(errors[1e-4] / exact < 1e-3)


def test_loss_adds_weighted_penalty():
    model = _smooth_model()
    images, labels = _batch()
    config = RegularizerConfig(lam=0.7, h=1e-3)
    output = regularized_loss(model, images, labels, config)
    expected_ce = F.cross_entropy(model(images), labels)
    torch.testing.assert_close(output.cross_entropy, expected_ce)
    torch.testing.assert_close(output.penalty, output.difference.pow(2).mean())
    torch.testing.assert_close(output.loss, expected_ce + 0.7 * output.penalty)
    # The penalty approximates the mean squared L1 norm of the input gradient.
    squared_l1 = _l1_of_gradient(model, images, labels).pow(2).mean()
    torch.testing.assert_close(output.penalty.detach(), squared_l1, rtol=1e-2, atol=0)


def test_penalty_gradient_reaches_parameters_and_lowers_penalty():
    model = _smooth_model()
    images, labels = _batch()
    config = RegularizerConfig(lam=1.0, h=1e-3)
    before = regularized_loss(model, images, labels, config).penalty.item()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(30):
        optimizer.zero_grad()
        output = regularized_loss(model, images, labels, RegularizerConfig(lam=10.0, h=1e-3))
        output.penalty.backward()
        optimizer.step()
    after = regularized_loss(model, images, labels, config).penalty.item()
    assert after < 0.5 * before


def test_zero_lambda_is_plain_cross_entropy():
    model = _smooth_model()
    images, labels = _batch()
    output = regularized_loss(model, images, labels, RegularizerConfig(lam=0.0))
    torch.testing.assert_close(output.loss, F.cross_entropy(model(images), labels))
    assert output.penalty.item() == 0.0


def test_regularizer_runs_on_spiking_model(tiny_snn, tiny_batch):
    images, labels = tiny_batch
    tiny_snn.train()
    output = regularized_loss(tiny_snn, images, labels, RegularizerConfig(lam=0.1, h=0.05))
    output.loss.backward()
    weight = tiny_snn.hidden.module[1].weight
    assert weight.grad is not None and weight.grad.abs().sum() > 0
    assert torch.isfinite(output.penalty)


@pytest.mark.parametrize(("lam", "h"), [(-1.0, 0.01), (0.1, 0.0), (float("nan"), 0.01)])
def test_config_rejects_invalid_values(lam, h):
    with pytest.raises(ValueError):
        RegularizerConfig(lam=lam, h=h)


def test_config_round_trips():
    config = RegularizerConfig(lam=0.3, h=0.02)
    assert RegularizerConfig.from_dict(config.to_dict()) == config
