"""FGSM, PGD and uniform noise: exact perturbations, constraints, modes and encoders."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from snn_core.models import SpikingCNN
from snn_robust import (
    AttackConfig,
    attack_mode,
    fgsm,
    input_gradient,
    mean_logits,
    perturb,
    pgd,
    uniform_noise,
)


@pytest.mark.parametrize("estimator", ["bptt", "bptt-triangle", "bptr"])
def test_fgsm_is_eps_sign_gradient_clipped(tiny_snn, tiny_batch, estimator):
    images, labels = tiny_batch
    eps = 0.2
    tiny_snn.eval()
    grad, _ = input_gradient(tiny_snn, images, labels, estimator)
    adversarial = fgsm(tiny_snn, images, labels, eps, estimator)
    expected = (images + eps * grad.sign()).clamp(0, 1)
    assert grad.abs().sum() > 0
    torch.testing.assert_close(adversarial, expected, rtol=0, atol=0)


def test_fgsm_raises_loss(tiny_snn, tiny_batch):
    images, labels = tiny_batch
    tiny_snn.eval()
    with torch.no_grad():
        clean = F.cross_entropy(mean_logits(tiny_snn, images), labels)
        attacked = F.cross_entropy(
            mean_logits(tiny_snn, fgsm(tiny_snn, images, labels, 0.3)), labels
        )
    assert attacked > clean


@settings(max_examples=15, deadline=None)
@given(
    eps=st.floats(0.0, 0.5, allow_subnormal=False),
    steps=st.integers(1, 4),
    random_start=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_pgd_stays_in_ball_and_unit_range(eps, steps, random_start, seed):
    torch.manual_seed(seed)
    from conftest import TinySNN

    model = TinySNN()
    images = torch.rand(6, 1, 4, 4)
    images[0] = 0.0  # corners of the unit box exercise the clipping
    images[1] = 1.0
    labels = torch.randint(0, 3, (6,))
    adversarial = pgd(model, images, labels, eps, steps=steps, random_start=random_start)
    assert (adversarial - images).abs().max() <= eps + 1e-6
    assert adversarial.min() >= 0.0
    assert adversarial.max() <= 1.0


def test_pgd_at_least_as_strong_as_fgsm(tiny_snn, tiny_batch):
    images, labels = tiny_batch
    tiny_snn.eval()
    with torch.no_grad():
        loss_fgsm = F.cross_entropy(
            mean_logits(tiny_snn, fgsm(tiny_snn, images, labels, 0.2)), labels
        )
        loss_pgd = F.cross_entropy(
            mean_logits(tiny_snn, pgd(tiny_snn, images, labels, 0.2, steps=10)), labels
        )
    assert loss_pgd >= loss_fgsm - 1e-6


def test_uniform_noise_bounded_and_reproducible():
    images = torch.rand(4, 1, 8, 8)
    first = uniform_noise(images, 0.1, torch.Generator().manual_seed(3))
    second = uniform_noise(images, 0.1, torch.Generator().manual_seed(3))
    assert (first - images).abs().max() <= 0.1 + 1e-6
    assert first.min() >= 0
    assert first.max() <= 1
    assert (first - images).abs().mean() > 0.02  # noise is actually added
    torch.testing.assert_close(first, second)


def test_eval_and_train_give_same_input_gradient(tiny_snn, tiny_batch):
    images, labels = tiny_batch
    tiny_snn.train()
    grad_train, _ = input_gradient(tiny_snn, images, labels, "bptt")
    tiny_snn.eval()
    grad_eval, _ = input_gradient(tiny_snn, images, labels, "bptt")
    assert grad_train.abs().sum() > 0
    torch.testing.assert_close(grad_train, grad_eval, rtol=0, atol=0)


def test_attack_mode_restores_module_flags(tiny_snn):
    tiny_snn.train()
    tiny_snn.readout.eval()  # a mixed state must come back exactly
    with attack_mode(tiny_snn):
        assert not any(module.training for module in tiny_snn.modules())
    assert tiny_snn.training
    assert not tiny_snn.readout.training
    assert tiny_snn.hidden.training


def test_rate_encoder_attacked_through_straight_through_gradient():
    torch.manual_seed(0)
    model = SpikingCNN(
        in_channels=1,
        num_classes=3,
        image_size=8,
        time_steps=6,
        neuron="if",
        encoder={"name": "rate", "seed": 5},
    ).eval()
    images = torch.rand(4, 1, 8, 8) * 0.8 + 0.1
    labels = torch.tensor([0, 1, 2, 0])

    model.encoder.reseed()
    grad, _ = input_gradient(model, images, labels, "bptt")

    # The same Bernoulli draws, differentiated by hand: dL/dx = sum over T of dL/d(spikes[t]).
    model.encoder.reseed()
    with torch.no_grad():
        spikes = model.encoder(images)
    spikes.requires_grad_(True)
    loss = F.cross_entropy(model.forward_sequence(spikes).mean(0), labels)
    (grad_spikes,) = torch.autograd.grad(loss, spikes)
    assert grad.abs().sum() > 0
    torch.testing.assert_close(grad, grad_spikes.sum(0))


def test_gradient_samples_average_encoder_draws():
    torch.manual_seed(0)
    model = SpikingCNN(
        in_channels=1, num_classes=3, image_size=8, time_steps=4, neuron="if", encoder="rate"
    ).eval()
    images = torch.rand(2, 1, 8, 8)
    labels = torch.tensor([0, 1])
    single, _ = input_gradient(model, images, labels, "bptt", samples=1)
    averaged, _ = input_gradient(model, images, labels, "bptt", samples=8)
    assert not torch.allclose(single, averaged)
    assert averaged.abs().sum() > 0


def test_perturb_clean_returns_input(tiny_snn, tiny_batch):
    images, labels = tiny_batch
    out = perturb(tiny_snn, images, labels, AttackConfig("clean", 0.0))
    torch.testing.assert_close(out, images)


def test_attacks_reject_images_outside_unit_range(tiny_snn, tiny_batch):
    images, labels = tiny_batch
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fgsm(tiny_snn, images * 2.0 + 0.5, labels, 0.1)


@pytest.mark.parametrize("eps", [-0.1, 8.0, float("nan")])
def test_attacks_reject_eps_outside_unit_range(tiny_snn, tiny_batch, eps):
    images, labels = tiny_batch
    with pytest.raises(ValueError, match=r"eps must be in \[0, 1\] pixel units"):
        pgd(tiny_snn, images, labels, eps)


def test_attack_config_rejects_unknown_kind():
    with pytest.raises(ValueError, match="uniform"):
        AttackConfig("deepfool", 0.1)  # type: ignore[arg-type]


def test_attack_config_round_trips():
    config = AttackConfig("pgd", 0.3, steps=7, step_size=0.01)
    assert AttackConfig.from_dict(config.to_dict()) == config
    assert config.label == "pgd-7"
