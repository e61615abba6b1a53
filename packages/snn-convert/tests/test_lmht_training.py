import pytest
import torch
from torch.utils.data import DataLoader

from snn_convert import (
    QCFS,
    build_lmht_network,
    compare_reparameterized,
    evaluate_per_step,
    hybrid_lmht_network,
    lmht_neurons,
    reparameterize_lmht,
    sum_sub_steps,
)
from snn_convert.models import VGG
from snn_convert.training import train_classifier
from snn_core.training import TrainConfig


def test_direct_lmht_training_on_digits(digits_splits):
    torch.manual_seed(0)
    ann = VGG([16, "M", 32, "M"], in_channels=1, num_classes=10, image_size=8, hidden=(64,))
    network = build_lmht_network(ann, level=2, time_steps=2)
    config = TrainConfig(
        epochs=4, batch_size=32, lr=0.01, optimizer="adam", device="cpu", progress=False
    )
    results = train_classifier(network, digits_splits, config)
    assert results["test_accuracy"] > 0.85
    leaks = [float(n.leak.detach()) for n in lmht_neurons(network)]
    assert any(abs(leak - 1.0) > 1e-4 for leak in leaks)  # the leak was learned


def test_hybrid_lmht_initialisation(digits_qcfs_ann):
    ann, _ = digits_qcfs_ann
    network = hybrid_lmht_network(ann, level=2, time_steps=2)
    neurons = lmht_neurons(network)
    thresholds = [float(m.threshold.detach()) for m in ann.modules() if isinstance(m, QCFS)]
    assert [float(n.v_threshold) for n in neurons] == pytest.approx(thresholds)
    assert [float(n.v_init) for n in neurons] == pytest.approx([t / 2 for t in thresholds])
    assert [n.input_scale for n in neurons] == [2.0] + [1.0] * (len(neurons) - 1)


def test_hybrid_lmht_finetuning_recovers_accuracy(digits_qcfs_ann, digits_splits):
    ann, ann_accuracy = digits_qcfs_ann
    torch.manual_seed(0)
    network = hybrid_lmht_network(ann, level=2, time_steps=2)
    loader = DataLoader(digits_splits.test, batch_size=512)
    config = TrainConfig(
        epochs=2,
        batch_size=32,
        lr=0.005,
        optimizer="sgd",
        weight_decay=5e-4,
        device="cpu",
        progress=False,
    )
    train_classifier(network, digits_splits, config)
    network.eval()
    accuracy = evaluate_per_step(network, loader)["accuracy_per_step"][-1]
    assert accuracy > ann_accuracy - 0.05
    reparameterized = evaluate_per_step(reparameterize_lmht(network), loader)["accuracy_per_step"][
        -1
    ]
    assert reparameterized == accuracy


def test_hybrid_from_converted_matches_hybrid_from_ann(digits_qcfs_ann, digits_splits):
    ann, _ = digits_qcfs_ann
    from snn_convert import convert_to_snn, hybrid_from_converted

    images = torch.stack([digits_splits.test[i][0] for i in range(32)])
    direct = hybrid_lmht_network(ann, level=2, time_steps=2).eval()
    via_if = hybrid_from_converted(convert_to_snn(ann), level=2, time_steps=2).eval()
    with torch.no_grad():
        assert torch.allclose(direct(images), via_if(images), atol=1e-5)


@pytest.mark.parametrize("time_steps", [2, 8])
def test_hybrid_reparameterized_logits_equal_float64(digits_qcfs_ann, digits_splits, time_steps):
    # Hybrid networks start from v(0) = theta / 2 and scale the first layer's input by L. Random
    # leak and mixing stand in for fine-tuning. In float64, rounding ties at a threshold are rare,
    # so the per-step block sums must equal the LM-HT logits, not only the predictions.
    ann, _ = digits_qcfs_ann
    torch.manual_seed(time_steps)
    network = hybrid_lmht_network(ann, level=2, time_steps=time_steps).eval()
    with torch.no_grad():
        for neuron in lmht_neurons(network):
            neuron.leak_logit.uniform_(-0.5, 0.5)
            neuron.mixing_logits.normal_(0.0, 0.5)
    network.double()
    reparameterized = reparameterize_lmht(network).double()
    images = torch.stack([image for image, _ in digits_splits.test]).double()
    with torch.no_grad():
        logits = network(images)
        block_logits = sum_sub_steps(reparameterized(images), 2)
    assert block_logits.shape == logits.shape == (time_steps, len(images), 10)
    assert float((block_logits - logits).abs().max()) < 1e-9


def test_compare_reparameterized_reports_both_precisions(digits_qcfs_ann, digits_splits):
    ann, _ = digits_qcfs_ann
    torch.manual_seed(8)
    network = hybrid_lmht_network(ann, level=2, time_steps=8).eval()
    with torch.no_grad():
        for neuron in lmht_neurons(network):
            neuron.leak_logit.uniform_(-0.5, 0.5)
            neuron.mixing_logits.normal_(0.0, 0.5)
    loader = torch.utils.data.DataLoader(digits_splits.test, batch_size=128)
    double = compare_reparameterized(network, loader, dtype=torch.float64)
    single = compare_reparameterized(network, loader, dtype=torch.float32)
    assert double["samples"] == len(digits_splits.test)
    assert double["max_logit_difference"] < 1e-9
    assert double["prediction_agreement"] == 1.0
    assert single["prediction_agreement"] > 0.95
    # The network given is left in float32: the float64 comparison worked on a copy.
    assert next(network.parameters()).dtype == torch.float32
    with pytest.raises(ValueError, match="floating-point dtype"):
        compare_reparameterized(network, loader, dtype=torch.int64)
