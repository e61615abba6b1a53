"""Attacks and the regularizer on spiking CNNs trained on the embedded digits set."""

from __future__ import annotations

import pytest
import torch

from snn_core.datasets import load_dataset
from snn_core.training import TrainConfig
from snn_robust import (
    AttackConfig,
    ModelSpec,
    RobustTrainConfig,
    gradient_norms,
    make_loader,
    robust_accuracy,
    train_robust,
)

EPOCHS = 6


def _train(lam: float) -> torch.nn.Module:
    torch.manual_seed(0)
    splits = load_dataset("digits")
    spec = ModelSpec(
        "spiking-cnn",
        {
            "in_channels": 1,
            "num_classes": 10,
            "image_size": 8,
            "time_steps": 4,
            "neuron": "if",
            "neuron_kwargs": {"surrogate": "triangle"},
        },
    )
    model = spec.build()
    config = TrainConfig(epochs=EPOCHS, lr=3e-3, device="cpu", progress=False, seed=0)
    train_robust(model, splits, config, RobustTrainConfig(lam=lam, h=0.01))
    return model.eval()


@pytest.fixture(scope="module")
def digits_loader():
    return make_loader(load_dataset("digits").test, batch_size=200, max_samples=200)


@pytest.fixture(scope="module")
def vanilla_model():
    return _train(0.0)


@pytest.fixture(scope="module")
def accuracies(vanilla_model, digits_loader):
    settings = {
        "clean": AttackConfig("clean", 0.0),
        "uniform": AttackConfig("uniform", 0.1),
        "fgsm": AttackConfig("fgsm", 0.1),
        "pgd": AttackConfig("pgd", 0.1, steps=5),
    }
    return {
        name: robust_accuracy(vanilla_model, digits_loader, config, "ensemble")
        for name, config in settings.items()
    }


def test_trained_model_is_accurate(accuracies):
    assert accuracies["clean"].accuracy > 0.85


def test_fgsm_lowers_accuracy(accuracies):
    assert accuracies["fgsm"].accuracy < accuracies["clean"].accuracy - 0.1


def test_pgd_at_most_fgsm(accuracies):
    assert accuracies["pgd"].accuracy <= accuracies["fgsm"].accuracy


def test_random_noise_hurts_less_than_fgsm(accuracies):
    assert accuracies["uniform"].accuracy > accuracies["fgsm"].accuracy + 0.1


def test_ensemble_is_worst_case_of_estimators(accuracies):
    for name in ("fgsm", "pgd"):
        result = accuracies[name]
        assert set(result.per_estimator) == {"bptt-triangle", "bptt-sigmoid", "bptt-arctan", "bptr"}
        assert result.accuracy <= min(result.per_estimator.values())


def test_regularized_model_has_sparser_gradient(vanilla_model, digits_loader):
    regularized = _train(0.05)
    vanilla_norm = gradient_norms(vanilla_model, digits_loader, "bptt-triangle")["l1"]
    regularized_norm = gradient_norms(regularized, digits_loader, "bptt-triangle")["l1"]
    assert regularized_norm < 0.8 * vanilla_norm
