import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from snn_convert import QCFS
from snn_convert.calibration import simulate_if


def test_qcfs_staircase_values():
    qcfs = QCFS(level=4, threshold=2.0)
    z = torch.tensor([-1.0, 0.0, 0.24, 0.26, 0.74, 0.76, 1.9, 2.5, 10.0])
    expected = torch.tensor([0.0, 0.0, 0.0, 0.5, 0.5, 1.0, 2.0, 2.0, 2.0])
    assert torch.equal(qcfs(z), expected)


def test_qcfs_threshold_initialised_to_eight():
    assert float(QCFS().threshold.detach()) == 8.0


def test_qcfs_floor_passes_gradient_straight_through():
    qcfs = QCFS(level=4, threshold=2.0)
    z = torch.tensor([0.3, 1.1], requires_grad=True)
    qcfs(z).sum().backward()
    # inside the clip range the staircase has gradient 1 with respect to z
    assert torch.allclose(z.grad, torch.ones(2))


def test_qcfs_threshold_receives_gradient():
    qcfs = QCFS(level=4, threshold=2.0)
    qcfs(torch.tensor([0.3, 5.0])).sum().backward()
    assert qcfs.threshold.grad is not None
    assert float(qcfs.threshold.grad) != 0.0


def test_qcfs_rejects_bad_level():
    try:
        QCFS(level=0)
    except ValueError as err:
        assert "level" in str(err)
    else:
        raise AssertionError("QCFS(level=0) did not raise")


@settings(max_examples=50, deadline=None)
@given(
    level=st.integers(1, 8),
    threshold=st.floats(0.5, 4.0),
    z=st.lists(st.floats(-2.0, 6.0), min_size=1, max_size=16),
)
def test_if_neuron_with_level_steps_matches_qcfs(level, threshold, z):
    # A soft-reset IF neuron from theta/2 emits L * QCFS(z) / theta spikes in L steps of input z.
    z = torch.tensor(z, dtype=torch.float64)
    qcfs = QCFS(level=level, threshold=threshold).double()
    expected = qcfs(z).detach() * level / threshold
    x = (z / threshold).expand(level, -1)
    spikes, _, _ = simulate_if(x, 0.5)
    assert torch.allclose(spikes.sum(0), expected, atol=1e-6)
