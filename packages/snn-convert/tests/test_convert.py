import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from snn_convert import (
    QCFS,
    ConversionConfig,
    IFActivation,
    NoCalibrationDataError,
    convert_to_snn,
    evaluate_ann,
    evaluate_per_step,
    offset_spike_histograms,
)
from snn_core.neuron import IFNeuron


@pytest.fixture(scope="module")
def digits_results(digits_qcfs_ann, digits_splits):
    ann, _ = digits_qcfs_ann
    loader = DataLoader(digits_splits.test, batch_size=512)
    snn = convert_to_snn(ann, ConversionConfig(time_steps=8))
    results = {"ann": evaluate_ann(ann, loader)}
    for method, presim in (("plain", 0), ("cos", 4), ("srp", 4)):
        snn.configure(method, presim)
        results[method] = evaluate_per_step(snn, loader)
    return results


def test_digits_qcfs_ann_accuracy(digits_results):
    assert digits_results["ann"] > 0.93


def test_digits_plain_conversion_reaches_ann(digits_results):
    plain = digits_results["plain"]["accuracy_per_step"]
    assert len(plain) == 8
    assert plain[7] > digits_results["ann"] - 0.03
    assert plain[3] > 0.9


def test_digits_cos_beats_plain_at_one_step(digits_results):
    cos = digits_results["cos"]["accuracy_per_step"]
    plain = digits_results["plain"]["accuracy_per_step"]
    assert cos[0] > plain[0] + 0.05
    assert cos[1] >= plain[1]


def test_digits_srp_close_to_ann_at_level(digits_results):
    srp = digits_results["srp"]["accuracy_per_step"]
    assert srp[3] > digits_results["ann"] - 0.05


def test_digits_latency_offsets(digits_results):
    assert digits_results["plain"]["latency_offset"] == 0
    assert digits_results["cos"]["latency_offset"] == 4
    assert digits_results["srp"]["latency_offset"] == 4


def test_converted_layers_use_core_soft_reset_if(digits_qcfs_ann):
    ann, _ = digits_qcfs_ann
    snn = convert_to_snn(ann)
    layers = snn.if_layers()
    thresholds = [float(m.threshold.detach()) for m in ann.modules() if isinstance(m, QCFS)]
    assert [float(layer.threshold) for layer in layers] == thresholds
    for layer in layers:
        assert isinstance(layer.neuron, IFNeuron)
        assert layer.neuron.reset_mode == "soft"
        assert float(layer.neuron.v_init) == 0.5  # theta / 2 in units of theta


def test_one_layer_snn_equals_ann():
    torch.manual_seed(0)
    ann = nn.Sequential(nn.Linear(6, 16), QCFS(level=4, threshold=1.5), nn.Linear(16, 3)).eval()
    x = torch.randn(32, 6)
    snn = convert_to_snn(ann, ConversionConfig(time_steps=4))
    with torch.no_grad():
        assert torch.allclose(snn(x).mean(0), ann(x), atol=1e-5)


def test_cos_without_batches_raises_clear_error(digits_qcfs_ann):
    ann, _ = digits_qcfs_ann
    snn = convert_to_snn(ann, ConversionConfig(method="cos", presim_steps=4, time_steps=4))
    with pytest.raises(NoCalibrationDataError, match="at least one"):
        evaluate_per_step(snn, [])


def test_srp_without_batches_raises_clear_error(digits_qcfs_ann):
    ann, _ = digits_qcfs_ann
    snn = convert_to_snn(ann, ConversionConfig(method="srp", presim_steps=4, time_steps=4))
    with pytest.raises(NoCalibrationDataError, match="SRP"):
        evaluate_per_step(snn, iter([]))


def test_offset_histogram_without_batches_raises(digits_qcfs_ann):
    ann, _ = digits_qcfs_ann
    with pytest.raises(NoCalibrationDataError):
        offset_spike_histograms(convert_to_snn(ann), [], presim_steps=4)


def test_offset_histograms_show_calibration_effect(digits_qcfs_ann, digits_splits):
    ann, _ = digits_qcfs_ann
    snn = convert_to_snn(ann)
    loader = DataLoader(digits_splits.test, batch_size=128)
    report = offset_spike_histograms(snn, loader, presim_steps=4)
    assert list(report) == [
        name for name, m in snn.body.named_modules() if isinstance(m, IFActivation)
    ]
    before_errors = sum(1 - r["before"][0] for r in report.values())
    after_errors = sum(1 - r["after"][0] for r in report.values())
    assert before_errors > 0.01
    assert after_errors < 0.2 * before_errors
    for record in report.values():
        assert sum(record["before"]) == pytest.approx(1.0)
        assert record["before"][1] >= record["before"][2]  # errors are mostly one spike
    assert snn.config.method == "plain"  # the diagnostic restores the method


def test_plain_config_rejects_presim_steps():
    with pytest.raises(ValueError, match="presim_steps"):
        ConversionConfig(method="plain", presim_steps=4)


def test_cos_config_requires_presim_steps():
    with pytest.raises(ValueError, match="rho or tau"):
        ConversionConfig(method="cos", presim_steps=0)


def test_conversion_config_round_trips():
    config = ConversionConfig(method="srp", presim_steps=3, time_steps=5)
    assert ConversionConfig.from_dict(config.to_dict()) == config


def test_conversion_rejects_relu_ann():
    ann = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 2))
    with pytest.raises(TypeError, match="prepare_qcfs_model"):
        convert_to_snn(ann)


def test_srp_mask_statistics_on_digits(digits_qcfs_ann, digits_splits):
    from snn_convert import srp_mask_statistics

    ann, _ = digits_qcfs_ann
    snn = convert_to_snn(ann)
    loader = DataLoader(digits_splits.test, batch_size=128)
    report = srp_mask_statistics(snn, loader, presim_steps=4)
    assert len(report) == len(snn.if_layers())
    zero_fired = sum(r["ann_zero_fired"] for r in report.values())
    kept = sum(r["ann_zero_fired_kept"] for r in report.values())
    assert zero_fired > 0
    assert kept == 0  # every neuron with QCFS output 0 that fired is silenced
    assert snn.config.method == "plain"


def _srp_step_by_step(snn, images, tau, time_steps):
    """Simulate SRP one step at a time through all layers and return the last T steps' logits.

    IF from 1/2 for tau steps, then the mask ``v > 1e-3`` and a reset to 1/2, then masked outputs.
    """
    layers = snn.if_layers()
    potentials, masks = {}, {}

    def make_forward(index, layer, step):
        def forward(x):
            theta = layer.threshold
            v = potentials.get(index, torch.full_like(x, 0.5)) + x / theta
            s = (v >= 1.0).to(x.dtype)
            v = v - s
            if step["t"] == tau:
                masks[index] = (v > 1e-3).to(x.dtype)
                v = torch.full_like(v, 0.5)
            potentials[index] = v
            if step["t"] > tau:
                s = s * masks[index]
            return s * theta

        return forward

    step = {"t": 0}
    for index, layer in enumerate(layers):
        layer.forward = make_forward(index, layer, step)
        layer.sequence_length = 1
    logits = []
    try:
        for t in range(1, tau + time_steps + 1):
            step["t"] = t
            logits.append(snn.body(images))
    finally:
        for layer in layers:
            del layer.forward
    return torch.stack(logits[tau:])


@torch.no_grad()
def test_srp_matches_stepwise_reference(digits_qcfs_ann, digits_splits):
    ann, _ = digits_qcfs_ann
    images = torch.stack([digits_splits.test[i][0] for i in range(64)])
    snn = convert_to_snn(ann, ConversionConfig(method="srp", presim_steps=4, time_steps=3))
    layerwise = snn(images)
    reference = _srp_step_by_step(snn, images, tau=4, time_steps=3)
    assert layerwise.shape == reference.shape == (3, 64, 10)
    assert torch.allclose(layerwise, reference, atol=1e-5)


@torch.no_grad()
def test_srp_without_mask_equals_plain(digits_qcfs_ann, digits_splits, monkeypatch):
    # The reset to 1/2 after the pre-steps makes the reported steps restart like plain conversion,
    # so SRP whose mask keeps every neuron must give the plain network's logits.
    import snn_convert.layers as layers_module

    ann, _ = digits_qcfs_ann
    images = torch.stack([digits_splits.test[i][0] for i in range(64)])
    snn = convert_to_snn(ann, ConversionConfig(time_steps=3))
    plain = snn(images)
    original = layers_module.srp_mask

    def keep_all(x, threshold=1e-3):
        spikes, mask = original(x, threshold)
        return spikes, torch.ones_like(mask)

    monkeypatch.setattr(layers_module, "srp_mask", keep_all)
    snn.configure("srp", 4)
    assert torch.allclose(snn(images), plain, atol=1e-5)
