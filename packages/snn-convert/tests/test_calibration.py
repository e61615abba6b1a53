import pytest
import torch

from snn_convert import cos_initial_potential, desired_spike_count, simulate_if, srp_mask

NEURONS = 200_000
STEPS = 4  # T = rho = 4


@pytest.fixture(scope="module")
def toy_inputs():
    """Mean inputs in [-0.3, 1.2] plus zero-sum temporal noise, so sum_t x = 4 * mean."""
    generator = torch.Generator().manual_seed(0)
    mean = torch.rand(NEURONS, generator=generator) * 1.5 - 0.3
    noise = torch.randn(STEPS, NEURONS, generator=generator) * 0.6
    noise = noise - noise.mean(0)
    target = torch.clamp(torch.floor(STEPS * mean + 0.5), 0, STEPS)
    return mean + noise, target


def test_toy_plain_errors_are_almost_all_one_spike(toy_inputs):
    x, target = toy_inputs
    spikes, _, _ = simulate_if(x, 0.5)
    psi = spikes.sum(0) - target
    matched = (psi == 0).float().mean().item()
    errors = psi != 0
    one_spike = (psi[errors].abs() == 1).float().mean().item()
    assert 0.7 < matched < 0.9
    assert one_spike > 0.95


def test_toy_cos_removes_most_offsets(toy_inputs):
    x, target = toy_inputs
    plain_errors = ((simulate_if(x, 0.5)[0].sum(0) - target) != 0).float().mean().item()
    v0 = cos_initial_potential(x[:STEPS])
    calibrated = simulate_if(x, v0)[0].sum(0) - target
    assert (calibrated == 0).float().mean().item() > 0.99
    assert (calibrated != 0).float().mean().item() < 0.1 * plain_errors


def test_toy_cos_second_round_is_no_worse(toy_inputs):
    x, target = toy_inputs
    one = simulate_if(x, cos_initial_potential(x, rounds=1))[0].sum(0) - target
    two = simulate_if(x, cos_initial_potential(x, rounds=2))[0].sum(0) - target
    assert (two == 0).float().mean() >= (one == 0).float().mean() - 1e-4


def test_toy_srp_mask_silences_ann_zero_neurons(toy_inputs):
    x, target = toy_inputs
    pre_spikes, mask = srp_mask(x)
    count = pre_spikes.sum(0)
    fired_but_zero = ((target == 0) & (count > 0)).float().mean().item()
    after = ((target == 0) & (count * mask > 0)).float().mean().item()
    assert fired_but_zero > 0.01
    assert after < 0.1 * fired_but_zero


def test_cos_shift_rules_on_hand_made_neurons():
    # columns: one spike too many, one spike too few, exact
    x = torch.tensor([[1.2, -1.0, 0.45], [-1.0, 0.0, 0.45], [0.0, 0.0, 0.45], [0.0, 2.6, 0.45]])
    v0 = cos_initial_potential(x)
    # extra: fired at u = 1.7, residual 0.5 + 0.2 - 1 < 0 -> v0 = 0.5 - max(1.7 - 0.999, 1)
    assert v0[0].item() == pytest.approx(-0.5)
    # missing: residual 0.5 + 1.6 - 1 >= 1, highest quiet potential -0.5 -> v0 = 0.5 + 1.501
    assert v0[1].item() == pytest.approx(2.001)
    assert v0[2].item() == pytest.approx(0.5)


def test_cos_calibrated_counts_match_qcfs_on_hand_made_neurons():
    x = torch.tensor([[1.2, -1.0, 0.45], [-1.0, 0.0, 0.45], [0.0, 0.0, 0.45], [0.0, 2.6, 0.45]])
    before = simulate_if(x, 0.5)[0].sum(0) - desired_spike_count(x)
    after = simulate_if(x, cos_initial_potential(x))[0].sum(0) - desired_spike_count(x)
    assert before.tolist() == [1.0, -1.0, 0.0]
    assert after.tolist() == [0.0, 0.0, 0.0]


def test_desired_spike_count_clips_to_window():
    x = torch.tensor([[2.0, -1.0, 0.3], [2.0, -1.0, 0.3]])
    assert torch.equal(desired_spike_count(x), torch.tensor([2.0, 0.0, 1.0]))


def test_cos_rejects_zero_rounds():
    with pytest.raises(ValueError, match="rounds"):
        cos_initial_potential(torch.zeros(2, 3), rounds=0)
