"""Plugin discovery with fake entry points pointing at modules written to a temporary folder."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

import pytest

from snn_core import plugins
from snn_core.cli import main
from snn_core.registry import ENCODERS, NEURONS

GOOD_PLUGIN = """
import snn_core
from snn_core.neuron import IFNeuron
from snn_core.registry import NEURONS
from tmp_plugin_hooks import hookspecs

@NEURONS.register("tmp-good-neuron")
class GoodNeuron(IFNeuron):
    pass

@snn_core.hookimpl
def snn_add_hookspecs(plugin_manager):
    plugin_manager.add_hookspecs(hookspecs)

@snn_core.hookimpl
def snn_add_commands(subparsers):
    parser = subparsers.add_parser("tmp-hello", help="print a greeting")
    parser.add_argument("--name", default="world")
    parser.set_defaults(handler=lambda args: print(f"hello {args.name}") or 0)
    buggy = subparsers.add_parser("tmp-buggy", help="a command with a bug")
    buggy.set_defaults(handler=lambda args: args.no_such_setting)

@snn_core.hookimpl
def snn_tmp_answer():
    return 42
"""

HOOKSPECS = '''
import snn_core

@snn_core.hookspec(firstresult=True)
def snn_tmp_answer():
    """Return a number."""
'''

BROKEN_PLUGIN = """
from snn_core.registry import NEURONS
from snn_core.neuron import IFNeuron

@NEURONS.register("tmp-half-registered")
class Half(IFNeuron):
    pass

raise RuntimeError("this plugin is broken on purpose")
"""


FAULTY_COMMANDS = """
import snn_core

@snn_core.hookimpl
def snn_add_commands(subparsers):
    subparsers.add_parser("train")  # clashes with snn-core's own command
"""


@pytest.fixture
def fake_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    (tmp_path / "tmp_plugin_good.py").write_text(textwrap.dedent(GOOD_PLUGIN))
    (tmp_path / "tmp_plugin_broken.py").write_text(textwrap.dedent(BROKEN_PLUGIN))
    (tmp_path / "tmp_plugin_faulty.py").write_text(textwrap.dedent(FAULTY_COMMANDS))
    (tmp_path / "tmp_plugin_hooks").mkdir()
    (tmp_path / "tmp_plugin_hooks" / "__init__.py").write_text("")
    (tmp_path / "tmp_plugin_hooks" / "hookspecs.py").write_text(textwrap.dedent(HOOKSPECS))
    monkeypatch.syspath_prepend(str(tmp_path))
    points = [
        metadata.EntryPoint("tmp-broken", "tmp_plugin_broken", plugins.ENTRY_POINT_GROUP),
        metadata.EntryPoint("tmp-good", "tmp_plugin_good", plugins.ENTRY_POINT_GROUP),
        metadata.EntryPoint("tmp-faulty", "tmp_plugin_faulty", plugins.ENTRY_POINT_GROUP),
    ]
    real_entry_points = metadata.entry_points

    def entry_points(**kwargs: str) -> object:
        if kwargs.get("group") == plugins.ENTRY_POINT_GROUP:
            return list(real_entry_points(**kwargs)) + points
        return real_entry_points(**kwargs)

    monkeypatch.setattr(plugins.metadata, "entry_points", entry_points)
    plugins.reset_plugins()
    yield
    for registry in plugins.ALL_REGISTRIES.values():
        registry.unregister_owner("tmp-good")
    plugins.reset_plugins()
    for module in (
        "tmp_plugin_good",
        "tmp_plugin_broken",
        "tmp_plugin_hooks",
        "tmp_plugin_hooks.hookspecs",
    ):
        sys.modules.pop(module, None)


def test_broken_plugin_reported_and_others_load(fake_plugins: None) -> None:
    report = {info.name: info for info in plugins.plugin_report()}
    assert report["tmp-broken"].error is not None
    assert "broken on purpose" in report["tmp-broken"].error
    assert report["tmp-good"].loaded
    assert report["tmp-good"].registered == {"neurons": ["tmp-good-neuron"]}
    assert "tmp-good-neuron" in NEURONS
    assert "tmp-half-registered" not in NEURONS  # partial registrations are rolled back


def test_plugin_adds_hookspec(fake_plugins: None) -> None:
    manager = plugins.get_plugin_manager()
    assert manager.hook.snn_tmp_answer() == 42


def test_cli_plugins_lists_plugins_and_errors(
    fake_plugins: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plugins"]) == 0
    output = capsys.readouterr().out
    assert "snn-core" in output
    assert "tmp-good (tmp-good unknown): ok" in output
    assert "neurons: tmp-good-neuron" in output
    assert "tmp-broken" in output
    assert "FAILED" in output


def test_cli_plugin_subcommand(fake_plugins: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tmp-hello", "--name", "spikes"]) == 0
    assert "hello spikes" in capsys.readouterr().out


def test_cli_list_neurons(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "neurons"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "if\tsnn-core" in lines
    assert "lif\tsnn-core" in lines


def test_cli_unknown_dataset_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-q", "train", "--dataset", "imagenet-xl", "--epochs", "1"]) == 1
    error = capsys.readouterr().err
    assert "unknown dataset 'imagenet-xl'" in error
    assert "digits" in error


def test_faulty_plugin_command_leaves_others_working(
    fake_plugins: None, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    assert main(["tmp-hello"]) == 0
    assert "hello world" in capsys.readouterr().out
    assert "tmp-faulty" in caplog.text


SIBLING_GOOD = """
from snn_core.registry import ENCODERS
from snn_core.encoding import DirectEncoder

@ENCODERS.register("tmp-sibling-encoder")
class SiblingEncoder(DirectEncoder):
    pass
"""

SIBLING_BROKEN = """
from snn_core.registry import NEURONS
from snn_core.neuron import IFNeuron

@NEURONS.register("tmp-sibling-half")
class Half(IFNeuron):
    pass

raise ImportError("a dependency of this entry point is missing")
"""


class _FakeEntryPoint:
    """An entry point of a made-up distribution: ``metadata.EntryPoint`` has no public way to set one."""

    def __init__(self, name: str, module: str, distribution: str) -> None:
        self.name = name
        self.value = module
        self.dist = SimpleNamespace(name=distribution, version="1.2.3")

    def load(self) -> object:
        return importlib.import_module(self.value)


def test_failing_entry_point_keeps_its_siblings_registrations(
    install_fake_entry_points: Callable[[list[_FakeEntryPoint], dict[str, str]], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    install_fake_entry_points(
        [
            _FakeEntryPoint("tmp-sibling-a", "tmp_sibling_good", "tmp-siblings"),
            _FakeEntryPoint("tmp-sibling-b", "tmp_sibling_broken", "tmp-siblings"),
        ],
        {"tmp_sibling_good": SIBLING_GOOD, "tmp_sibling_broken": SIBLING_BROKEN},
    )
    report = {info.name: info for info in plugins.plugin_report()}
    assert report["tmp-sibling-a"].loaded
    assert report["tmp-sibling-a"].registered == {"encoders": ["tmp-sibling-encoder"]}
    assert report["tmp-sibling-b"].error is not None
    assert report["tmp-sibling-b"].registered == {}
    assert ENCODERS.entry("tmp-sibling-encoder").owner == "tmp-siblings"
    assert "tmp-sibling-half" not in NEURONS
    assert main(["plugins"]) == 0
    output = capsys.readouterr().out
    assert "tmp-sibling-a (tmp-siblings 1.2.3): ok" in output
    assert "encoders: tmp-sibling-encoder" in output


def test_cli_plugins_lists_each_plugins_commands(
    fake_plugins: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plugins"]) == 0
    output = capsys.readouterr().out
    good = output[output.index("tmp-good (") :]
    assert "  commands: tmp-buggy, tmp-hello" in good.splitlines()[1:4]
    core = output[output.index("snn-core (") :]
    assert "  commands: list, plugins, train" in core.splitlines()


SHARED_IMPORTER = """
import tmp_shared_good  # the sibling entry point's module, imported first from here

raise ImportError("an optional dependency of this entry point is missing")
"""


@pytest.fixture
def install_fake_entry_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[list[_FakeEntryPoint], dict[str, str]], None]]:
    """Write modules to a temporary folder and expose entry points for them until the test ends."""
    written: list[str] = []
    owners: set[str] = set()

    def install(points: list[_FakeEntryPoint], modules: dict[str, str]) -> None:
        for module, text in modules.items():
            (tmp_path / f"{module}.py").write_text(textwrap.dedent(text))
            written.append(module)
        owners.update(point.dist.name for point in points)
        real_entry_points = metadata.entry_points

        def entry_points(**kwargs: str) -> object:
            if kwargs.get("group") == plugins.ENTRY_POINT_GROUP:
                return list(real_entry_points(**kwargs)) + points
            return real_entry_points(**kwargs)

        monkeypatch.setattr(plugins.metadata, "entry_points", entry_points)
        plugins.reset_plugins()

    monkeypatch.syspath_prepend(str(tmp_path))
    yield install
    for registry in plugins.ALL_REGISTRIES.values():
        for owner in owners:
            registry.unregister_owner(owner)
    plugins.reset_plugins()
    for module in written:
        sys.modules.pop(module, None)


def test_failed_entry_point_keeps_imported_names(
    install_fake_entry_points: Callable[[list[_FakeEntryPoint], dict[str, str]], None],
) -> None:
    # Entry points load in name order, so the failing one imports its sibling's module first.
    install_fake_entry_points(
        [
            _FakeEntryPoint("tmp-shared-a", "tmp_shared_importer", "tmp-shared"),
            _FakeEntryPoint("tmp-shared-b", "tmp_shared_good", "tmp-shared"),
        ],
        {"tmp_shared_importer": SHARED_IMPORTER, "tmp_shared_good": SIBLING_GOOD},
    )
    report = {info.name: info for info in plugins.plugin_report()}
    assert "tmp-sibling-encoder" in ENCODERS
    assert report["tmp-shared-a"].error is not None
    assert report["tmp-shared-a"].registered == {"encoders": ["tmp-sibling-encoder"]}
    assert report["tmp-shared-b"].loaded
    assert report["tmp-shared-b"].registered == {"encoders": ["tmp-sibling-encoder"]}


def test_entry_point_name_clash_reported(
    install_fake_entry_points: Callable[[list[_FakeEntryPoint], dict[str, str]], None],
) -> None:
    install_fake_entry_points(
        [
            _FakeEntryPoint("tmp-same-name", "tmp_first_owner", "tmp-first"),
            _FakeEntryPoint("tmp-same-name", "tmp_second_owner", "tmp-second"),
        ],
        {"tmp_first_owner": SIBLING_GOOD, "tmp_second_owner": "VALUE = 1\n"},
    )
    infos = [info for info in plugins.plugin_report() if info.name == "tmp-same-name"]
    assert [info.distribution for info in infos] == ["tmp-first", "tmp-second"]
    assert infos[0].loaded
    assert infos[0].registered == {"encoders": ["tmp-sibling-encoder"]}
    assert infos[1].error is not None
    assert "already used by the distribution 'tmp-first'" in infos[1].error
    assert "rename the entry point" in infos[1].error


def test_cli_plugins_json_has_loaded_and_commands(
    fake_plugins: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plugins", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["tmp-good"]["loaded"] is True
    assert rows["tmp-good"]["commands"] == ["tmp-buggy", "tmp-hello"]
    assert rows["tmp-broken"]["loaded"] is False


def test_unexpected_error_in_a_command_is_one_line(
    fake_plugins: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tmp-buggy"]) == 1
    last_line = capsys.readouterr().err.splitlines()[-1]
    assert last_line.startswith("snn tmp-buggy: error: unexpected AttributeError")
    assert "snn -v tmp-buggy" in last_line


def test_invalid_compile_threshold_variable_warns_and_keeps_default() -> None:
    environment = {**os.environ, "SNN_CORE_COMPILE_MIN_ELEMENTS": "abc"}
    code = "from snn_core.neuron import base; print(base.COMPILE_MIN_ELEMENTS)"
    completed = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0
    assert completed.stdout.strip() == str(1 << 20)
    assert "SNN_CORE_COMPILE_MIN_ELEMENTS='abc' is not an integer" in completed.stderr
    assert "Traceback" not in completed.stderr
