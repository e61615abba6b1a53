"""Constructor arguments that arrive as strings or booleans from JSON get errors naming them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from snn_core.encoding import SpikeCameraEncoder
from snn_core.neuron import IFNeuron, LIFNeuron
from snn_core.registry import SURROGATES


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"tau": "2"}, "tau must be a number such as 1.0, got '2' (str)"),
        ({"v_threshold": "high"}, "v_threshold must be a number"),
        ({"v_threshold": None}, "v_threshold must be a number"),
        ({"v_reset": True}, "v_reset must be a number"),
        ({"v_init": "a"}, "v_init must be a number"),
        ({"v_init": [0.1, "a"]}, "v_init must be a number, a tensor or a nested list"),
        ({"detach_reset": "false"}, "detach_reset must be true or false, got 'false'"),
        ({"decay_input": "yes"}, "decay_input must be true or false"),
    ],
)
def test_neuron_rejects_wrong_types_by_name(settings: dict[str, object], message: str) -> None:
    with pytest.raises(TypeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        LIFNeuron(**settings)


@pytest.mark.parametrize(
    ("settings", "message"), [({"tau": 0.5}, "greater than 1"), ({"tau": float("nan")}, "finite")]
)
def test_neuron_rejects_bad_values_by_name(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LIFNeuron(**settings)


def test_neuron_accepts_numpy_and_tensor_scalars() -> None:
    neuron = IFNeuron(v_threshold=np.float32(0.5), v_reset=torch.tensor(0.25))
    assert neuron.v_threshold == 0.5
    assert neuron.v_reset == 0.25


def test_encoder_and_surrogate_reject_wrong_types() -> None:
    with pytest.raises(TypeError, match="gain must be a number"):
        SpikeCameraEncoder(3, gain="x")
    with pytest.raises(ValueError, match="noise_rate"):
        SpikeCameraEncoder(3, noise_rate=1.5)
    with pytest.raises(TypeError, match="surrogate width must be a number"):
        SURROGATES.build("triangle", width=True)


def test_step_rejects_integer_state() -> None:
    neuron = LIFNeuron()
    with pytest.raises(TypeError, match="state must be a floating-point membrane potential"):
        neuron.step(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.long))


def test_subclass_with_own_dynamics_reports_reference_backend() -> None:
    class Doubling(LIFNeuron):
        def charge(self, x_t: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
            return v + 2.0 * x_t

    x = torch.randn(3, 2, 4)
    assert Doubling(backend="fused").resolved_backend(x) == "reference"
    assert LIFNeuron(backend="fused").resolved_backend(x) == "fused"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"image_size": 0}, "image_size must be a positive integer"),
        ({"grey": "yes"}, "grey must be"),
    ],
)
def test_image_folder_rejects_bad_settings(
    tmp_path: object, settings: dict[str, object], message: str
) -> None:
    from snn_core.datasets import load_dataset

    with pytest.raises((ValueError, TypeError), match=message):
        load_dataset("image-folder", tmp_path, **settings)
