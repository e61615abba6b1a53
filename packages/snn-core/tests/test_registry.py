from __future__ import annotations

import pytest

from snn_core.registry import DuplicateNameError, Registry, UnknownNameError, registering_as


def test_unknown_name_lists_known_names() -> None:
    registry: Registry[object] = Registry("widgets")
    registry.register("alpha", object(), owner="pkg-a")
    registry.register("beta", object(), owner="pkg-b")
    with pytest.raises(UnknownNameError) as caught:
        registry.get("gamma")
    assert "'gamma'" in str(caught.value)
    assert "alpha, beta" in str(caught.value)


def test_duplicate_name_names_both_owners() -> None:
    registry: Registry[object] = Registry("widgets")
    registry.register("alpha", object(), owner="pkg-a")
    with pytest.raises(DuplicateNameError) as caught:
        registry.register("alpha", object(), owner="pkg-b")
    assert "'pkg-a'" in str(caught.value)
    assert "'pkg-b'" in str(caught.value)


def test_same_object_twice_is_accepted() -> None:
    registry: Registry[object] = Registry("widgets")
    target = object()
    registry.register("alpha", target, owner="pkg-a")
    assert registry.register("alpha", target, owner="pkg-a") is target


@pytest.mark.parametrize("name", ["Alpha", "alpha_beta", "-alpha", "alpha-", "a--b", ""])
def test_invalid_name_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="lowercase"):
        Registry("widgets").register(name, object())


def test_decorator_records_owner_from_context() -> None:
    registry: Registry[type] = Registry("widgets")
    with registering_as("my-plugin"):

        @registry.register("thing")
        class Thing:
            pass

    assert registry.entry("thing").owner == "my-plugin"
    assert registry.get("thing") is Thing
    assert registry.unregister_owner("my-plugin") == ["thing"]
    assert "thing" not in registry


def test_owner_defaults_to_distribution() -> None:
    from snn_core.neuron import LIFNeuron
    from snn_core.registry import NEURONS

    assert NEURONS.entry("lif").obj is LIFNeuron
    assert NEURONS.entry("lif").owner == "snn-core"
