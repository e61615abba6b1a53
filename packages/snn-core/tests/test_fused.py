"""The fused and compiled kernels against the reference loop, in values and gradients."""

from __future__ import annotations

import itertools

import pytest
import torch

from snn_core.neuron import BaseNeuron, fused_eager
from snn_core.registry import NEURONS, SURROGATES

RESET_MODES = ["hard", "soft", "none"]


def pair(name: str, backend: str, **settings: object) -> tuple[BaseNeuron, BaseNeuron]:
    reference = NEURONS.build(name, backend="reference", **settings).double()
    fast = NEURONS.build(name, backend=backend, **settings).double()
    fast.load_state_dict(reference.state_dict())
    return reference, fast


def gradients(
    neuron: BaseNeuron, x: torch.Tensor, upstream: torch.Tensor
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    x = x.clone().requires_grad_()
    spikes = neuron(x)
    inputs = [x, *neuron.parameters()]
    grads = torch.autograd.grad(spikes, inputs, upstream)
    return spikes, list(grads)


def assert_same(name: str, backend: str, x: torch.Tensor, **settings: object) -> None:
    reference, fast = pair(name, backend, **settings)
    upstream = torch.randn_like(x)
    expected_spikes, expected_grads = gradients(reference, x, upstream)
    spikes, grads = gradients(fast, x, upstream)
    assert torch.equal(spikes, expected_spikes)
    assert len(grads) == len(expected_grads)
    for got, expected in zip(grads, expected_grads):
        assert torch.allclose(got, expected, atol=1e-10, rtol=1e-9)


CASES = [
    (name, reset, surrogate, detach)
    for name, reset, surrogate, detach in itertools.product(
        ["if", "lif"], RESET_MODES, SURROGATES.names(), [False, True]
    )
]


@pytest.mark.parametrize(("name", "reset_mode", "surrogate", "detach_reset"), CASES)
def test_fused_matches_reference(
    name: str, reset_mode: str, surrogate: str, detach_reset: bool
) -> None:
    x = torch.randn(6, 3, 4, dtype=torch.float64) * 1.5 + 0.5
    assert_same(
        name,
        "fused",
        x,
        reset_mode=reset_mode,
        surrogate=surrogate,
        detach_reset=detach_reset,
        v_init=0.1,
    )


@pytest.mark.parametrize("reset_mode", RESET_MODES)
@pytest.mark.parametrize("decay_input", [True, False])
def test_fused_learnable_parameters_match(reset_mode: str, decay_input: bool) -> None:
    x = torch.randn(5, 4, 3, dtype=torch.float64) + 0.5
    assert_same(
        "lif",
        "fused",
        x,
        reset_mode=reset_mode,
        decay_input=decay_input,
        learnable_decay=True,
        learnable_threshold=True,
        surrogate="sigmoid",
    )


@pytest.mark.parametrize("reset_mode", RESET_MODES)
def test_fused_blocks_of_neurons_match_reference(
    reset_mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Blocks of 5 over 12 neurons per step: two full blocks and a partial one, each with its own
    # slice of a per-neuron initial potential, and threshold and decay gradients summed over blocks.
    monkeypatch.setattr(fused_eager, "CPU_BLOCK_ELEMENTS", 5)
    x = torch.randn(6, 3, 4, dtype=torch.float64) * 1.5 + 0.5
    assert_same(
        "lif",
        "fused",
        x,
        reset_mode=reset_mode,
        learnable_decay=True,
        learnable_threshold=True,
        v_init=torch.tensor([0.0, 0.2, 0.4, 0.8]),
    )


def test_fused_per_neuron_initial_potential() -> None:
    x = torch.randn(5, 2, 3, dtype=torch.float64) + 0.5
    assert_same("if", "fused", x, reset_mode="soft", v_init=torch.tensor([0.1, 0.5, 0.9]))


def test_fused_half_precision_integrates_in_float32() -> None:
    x = torch.randn(8, 4, 16) * 0.3 + 0.2
    reference = NEURONS.build("lif", backend="reference")(x.to(torch.bfloat16).float())
    fused = NEURONS.build("lif", backend="fused")(x.to(torch.bfloat16))
    assert fused.dtype == torch.bfloat16
    assert torch.equal(fused.float(), reference)


def test_subclass_with_new_dynamics_uses_reference_loop() -> None:
    from snn_core.neuron import LIFNeuron

    class Doubling(LIFNeuron):
        def charge(self, x_t: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
            return v + 2.0 * x_t

    x = torch.full((2, 1, 1), 0.3)
    assert Doubling(backend="fused")(x).flatten().tolist() == [0.0, 1.0]


@pytest.mark.parametrize("reset_mode", RESET_MODES)
def test_compiled_matches_reference(reset_mode: str) -> None:
    x = torch.randn(4, 2, 8, dtype=torch.float64) * 1.5 + 0.5
    assert_same(
        "lif", "compiled", x, reset_mode=reset_mode, surrogate="arctan", learnable_threshold=True
    )


def test_auto_backend_compiles_only_large_inputs() -> None:
    from snn_core.neuron import base

    neuron = NEURONS.build("lif")
    small = torch.zeros(2, 2, 2)
    assert neuron.resolved_backend(small) == "fused"
    large = torch.zeros(2, base.COMPILE_MIN_ELEMENTS // 2)
    assert neuron.resolved_backend(large) in ("compiled", "fused")


@pytest.mark.parametrize("backend", ["fused", "compiled"])
def test_inference_without_grad_matches_reference(backend: str) -> None:
    x = torch.randn(5, 3, 6, dtype=torch.float64) * 1.5 + 0.5
    reference, fast = pair("lif", backend, reset_mode="soft")
    with torch.no_grad():
        assert torch.equal(fast(x), reference(x))


def test_each_compiled_configuration_has_its_own_recompile_limit() -> None:
    from torch._dynamo.utils import counters

    x = torch.randn(4, 2, 8)
    compiled_before = counters["frames"]["ok"]
    # With a limit of 1, configurations sharing one cache would compile once and then run
    # eagerly. New v_reset values give configurations that this process has not compiled yet.
    with torch._dynamo.config.patch(recompile_limit=1), torch.no_grad():
        for v_reset in (0.0125, 0.025, 0.0375):
            neuron = NEURONS.build("lif", backend="compiled", v_reset=v_reset)
            reference = NEURONS.build("lif", backend="reference", v_reset=v_reset)
            assert torch.equal(neuron(x), reference(x))
    assert counters["frames"]["ok"] - compiled_before == 3


def test_variants_past_cap_run_eager(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from snn_core.neuron import fused

    monkeypatch.setattr(fused, "MAX_COMPILED_VARIANTS", 1)
    settings = {"v_reset": 0.0625, "reset_mode": "hard"}  # a configuration no other test compiles
    neuron = NEURONS.build("lif", backend="compiled", **settings)
    reference = NEURONS.build("lif", backend="reference", **settings)
    with torch.no_grad():
        for steps in (3, 5):
            x = torch.randn(steps, 2, 8)
            assert torch.equal(neuron(x), reference(x))
    (spec,) = [spec for spec in fused._compiled_variants if spec.v_reset == 0.0625]
    assert [variant[0] for variant in fused._compiled_variants[spec]] == [3]
    assert "compiled for 1 input variants" in caplog.text


def test_compile_failure_falls_back_to_eager(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from snn_core.neuron import fused

    def broken_kernel(*args: object) -> None:
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(fused, "_compiled_kernels", lambda spec: (broken_kernel, broken_kernel))
    monkeypatch.setattr(fused, "_compile_failures", set())
    x = torch.randn(4, 3, 5, dtype=torch.float64) + 0.5
    assert_same("lif", "compiled", x, reset_mode="soft", learnable_threshold=True)
    assert "torch.compile failed" in caplog.text
    assert len(fused._compile_failures) == 1
