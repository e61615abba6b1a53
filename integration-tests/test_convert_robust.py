"""snn-robust attacks on an IF network that snn-convert converted from a QCFS ANN, on digits.

A small QCFS VGG is trained on scikit-learn digits (8x8 images in [0, 1]) and converted to a
soft-reset IF network. FGSM and PGD from snn-robust then attack it through the converted IF
neurons, either with their own rectangle surrogate, with a swapped surrogate, or with rate-based
back-propagation (BPTR).

The accuracy thresholds leave a margin below numbers measured with this file (torch 2.13.0+cpu,
scikit-learn 1.9.1, one intra-op thread on a shared 2-core x86 machine): clean 0.963, uniform noise
0.970, FGSM 0.247, PGD-10 0.187, BPTR PGD-10 0.350 and ensemble PGD-5 0.143, all at eps = 0.1 on
300 held-out digits.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import torch
from torch import Tensor

from snn_convert import ConversionConfig, ConvertedSNN, convert_to_snn, prepare_qcfs_model
from snn_convert.models import build_ann
from snn_convert.training import train_qcfs
from snn_core.datasets import load_dataset
from snn_core.neuron import IFNeuron
from snn_core.training import TrainConfig
from snn_robust import (
    AttackConfig,
    fgsm,
    find_neurons,
    input_gradient,
    make_loader,
    pgd,
    robust_accuracy,
    uniform_noise,
)

SEED = 0
QCFS_LEVEL = 4
TIME_STEPS = 4
HELD_OUT = 300
EPS = 0.1
PGD_STEPS = 10
# Slack for float32 rounding in x + eps * sign(g) and in the projection onto the eps-ball.
TOLERANCE = 1e-6


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Run this module on one intra-op thread and restore the previous count afterwards."""
    # snn-convert's own tests do the same: with two OpenMP threads per process, small convolutions
    # run much slower when other processes compete for the cores.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def held_out(digits) -> tuple[Tensor, Tensor]:
    """The first HELD_OUT test images ``[N, 1, 8, 8]`` and their labels ``[N]``."""
    images, labels = digits.test.tensors()
    return images[:HELD_OUT], labels[:HELD_OUT]


@pytest.fixture(scope="module")
def snn(digits) -> ConvertedSNN:
    """A QCFS vgg-small trained for 4 epochs and converted to a plain IF network with 4 steps."""
    torch.manual_seed(SEED)
    ann = build_ann("vgg-small", in_channels=1, num_classes=10, image_size=8)
    ann = prepare_qcfs_model(ann, level=QCFS_LEVEL)
    config = TrainConfig(
        epochs=4,
        batch_size=32,
        lr=0.05,
        optimizer="sgd",
        weight_decay=5e-4,
        seed=SEED,
        device="cpu",
        progress=False,
    )
    train_qcfs(ann, digits, config)
    return convert_to_snn(ann.eval(), ConversionConfig(time_steps=TIME_STEPS))


def accuracy(model: ConvertedSNN, images: Tensor, labels: Tensor) -> float:
    """Return the fraction of ``images`` whose time-averaged logits predict ``labels``."""
    with torch.no_grad():
        predictions = model(images).mean(dim=0).argmax(dim=1)
    return float((predictions == labels).float().mean())


@pytest.fixture(scope="module")
def adversarial(snn, held_out) -> dict[str, Tensor]:
    """FGSM and PGD images at EPS, with the gradient through the IF neurons' own surrogate."""
    images, labels = held_out
    generator = torch.Generator().manual_seed(SEED)
    return {
        "fgsm": fgsm(snn, images, labels, EPS, estimator="bptt"),
        "pgd": pgd(
            snn, images, labels, EPS, steps=PGD_STEPS, estimator="bptt", generator=generator
        ),
    }


@pytest.fixture(scope="module")
def accuracies(snn, held_out, adversarial) -> dict[str, float]:
    images, labels = held_out
    noisy = uniform_noise(images, EPS, torch.Generator().manual_seed(SEED))
    return {
        "clean": accuracy(snn, images, labels),
        "uniform": accuracy(snn, noisy, labels),
        "fgsm": accuracy(snn, adversarial["fgsm"], labels),
        "pgd": accuracy(snn, adversarial["pgd"], labels),
    }


def test_converted_snn_clean_accuracy(accuracies) -> None:
    # Chance is 0.1 for ten classes.
    assert accuracies["clean"] > 0.9


def test_attack_finds_converted_if_neurons(snn) -> None:
    neurons = find_neurons(snn)
    assert len(neurons) == len(snn.if_layers())
    assert len(neurons) == 5
    assert all(isinstance(neuron, IFNeuron) for neuron in neurons)
    assert all(neuron.reset_mode == "soft" for neuron in neurons)


def test_input_gradient_flows_through_surrogate(snn, held_out) -> None:
    images, labels = held_out
    neurons = find_neurons(snn)
    surrogates = [neuron.surrogate for neuron in neurons]

    own, _ = input_gradient(snn, images, labels, "bptt")
    triangle, _ = input_gradient(snn, images, labels, "bptt-triangle")

    # Every path from the input to the logits passes an IF neuron, so a non-zero input gradient
    # means the backward pass went through the neurons' surrogate.
    per_sample = own.flatten(1).abs().sum(dim=1)
    assert bool((per_sample > 0).all()), f"{int((per_sample == 0).sum())} samples got no gradient"
    # The swapped surrogate changes the gradient, so the swap reached the converted neurons.
    assert not torch.allclose(own, triangle)
    # The swap is undone afterwards.
    assert all(
        neuron.surrogate is original for neuron, original in zip(neurons, surrogates, strict=True)
    )


def test_fgsm_stays_in_eps_ball(held_out, adversarial) -> None:
    images, _ = held_out
    perturbation = adversarial["fgsm"] - images
    assert float(perturbation.abs().max()) <= EPS + TOLERANCE
    assert float(adversarial["fgsm"].min()) >= 0.0
    assert float(adversarial["fgsm"].max()) <= 1.0


def test_pgd_stays_in_eps_ball(held_out, adversarial) -> None:
    images, _ = held_out
    perturbation = adversarial["pgd"] - images
    assert float(perturbation.abs().max()) <= EPS + TOLERANCE
    assert float(adversarial["pgd"].min()) >= 0.0
    assert float(adversarial["pgd"].max()) <= 1.0


@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
def test_attack_changes_inputs(held_out, adversarial, attack) -> None:
    images, _ = held_out
    perturbation = (adversarial[attack] - images).abs()
    # About 80 % of the pixels change. The others are at 0 or 1 with a gradient that points out of
    # [0, 1], or have a zero gradient.
    changed = float((perturbation > 0).float().mean())
    assert changed > 0.5
    # Each attack moves some pixel by the full eps, so its steps are not too small to reach the edge.
    assert float(perturbation.max()) > EPS - 1e-3


def test_fgsm_lowers_accuracy(accuracies) -> None:
    assert accuracies["fgsm"] < accuracies["clean"] - 0.4


def test_pgd_lowers_accuracy(accuracies) -> None:
    assert accuracies["pgd"] < accuracies["clean"] - 0.5


def test_pgd_no_weaker_than_fgsm(accuracies) -> None:
    assert accuracies["pgd"] <= accuracies["fgsm"] + 0.02


def test_uniform_noise_hurts_less_than_pgd(accuracies) -> None:
    # Random noise of the same size barely changes the prediction, so PGD's drop comes from the
    # gradient and not from the perturbation size alone.
    assert accuracies["uniform"] > accuracies["clean"] - 0.05
    assert accuracies["uniform"] > accuracies["pgd"] + 0.5


def test_bptr_pgd_lowers_accuracy(snn, held_out, accuracies, caplog) -> None:
    images, labels = held_out
    generator = torch.Generator().manual_seed(SEED)

    with caplog.at_level(logging.WARNING, logger="snn_robust"):
        attacked = pgd(
            snn, images, labels, EPS, steps=PGD_STEPS, estimator="bptr", generator=generator
        )

    # snn-robust warns when BPTR patched no neuron call, which would make its gradient plain BPTT.
    assert "changed no neuron call" not in caplog.text
    assert float((attacked - images).abs().max()) <= EPS + TOLERANCE
    assert accuracy(snn, attacked, labels) < accuracies["clean"] - 0.4
    # The patched neuron methods are removed again.
    assert all("forward" not in neuron.__dict__ for neuron in find_neurons(snn))


def test_ensemble_pgd_lowers_accuracy(snn, digits, accuracies) -> None:
    loader = make_loader(digits.test, batch_size=HELD_OUT, max_samples=HELD_OUT)
    result = robust_accuracy(snn, loader, AttackConfig("pgd", EPS, steps=5), "ensemble", seed=SEED)

    assert result.samples == HELD_OUT
    assert set(result.per_estimator) == {"bptt-triangle", "bptt-sigmoid", "bptt-arctan", "bptr"}
    # A sample counts as robust only if it survives every estimator.
    assert result.accuracy <= min(result.per_estimator.values())
    assert result.accuracy < accuracies["clean"] - 0.5


def test_attacks_leave_snn_unchanged(snn, held_out, adversarial, accuracies) -> None:
    # The adversarial fixture attacked the network already, so this clean pass checks that the
    # attack left no state behind.
    images, labels = held_out
    assert not snn.training
    assert accuracy(snn, images, labels) == accuracies["clean"]
