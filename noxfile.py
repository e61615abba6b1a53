"""Sessions that install each package alone, and all of them together, and run their tests.

    nox -t tests        every package's own tests, the integration tests and lint
    nox -s demo         each package's main job on its embedded default data
    nox -s bench        the speed benchmarks (slow)

Torch is pinned by a constraints file (constraints/torch-cpu.txt unless SNN_CONSTRAINTS names
another), so no session pulls a CUDA build of several GB. Environments are reused between runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import nox

ROOT = Path(__file__).parent
CONSTRAINTS = Path(os.environ.get("SNN_CONSTRAINTS", ROOT / "constraints" / "torch-cpu.txt"))
SHARED_DATA = Path(os.environ.get("SNN_SHARED_DATA", ROOT.parent / "shared" / "data"))

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
nox.options.sessions = []  # name a session or a tag: nox -t tests


def _pip_find_links() -> list[str]:
    """Return --find-links for uv from pip's configuration, for folders that exist."""
    try:
        output = subprocess.run(
            ["python3", "-m", "pip", "config", "list"], capture_output=True, text=True, check=False
        ).stdout
    except OSError:
        return []
    folders: list[str] = []
    for line in output.splitlines():
        key, _, value = line.partition("=")
        if key.strip().endswith("find-links"):
            for folder in value.strip().strip("'\"").split():
                if Path(folder).is_dir() and folder not in folders:
                    folders.append(folder)
    return [argument for folder in folders for argument in ("--find-links", folder)]


def _install(session: nox.Session, *requirements: str) -> None:
    arguments = ["-c", str(CONSTRAINTS)]
    if session.venv_backend == "uv":
        arguments += _pip_find_links()
    session.install(*arguments, *requirements)


def _env() -> dict[str, str]:
    env = {"HF_HUB_OFFLINE": "1", "SNN_SHARED_DATA": str(SHARED_DATA)}
    if os.environ.get("CI"):
        env["SNN_REQUIRE_SHARED_DATA"] = "1"
    return env


def _package(name: str) -> str:
    return str(ROOT / "packages" / name)


PLUGINS = [
    name
    for name in (
        "snn-convert",
        "snn-robust",
        "spike-3dgs",
        "snn-online",
        "snn-resformer",
        "urban-diff",
    )
    if (ROOT / "packages" / name / "pyproject.toml").is_file()
]


@nox.session(tags=["tests"])
def core(session: nox.Session) -> None:
    """Test snn-core alone, with its test extra."""
    _install(session, "-e", f"{_package('snn-core')}[test]")
    session.chdir(_package("snn-core"))
    session.run("pytest", "-q", *session.posargs, env=_env())


@nox.session(tags=["tests"])
@nox.parametrize("plugin", PLUGINS)
def plugin(session: nox.Session, plugin: str) -> None:
    """Test one plugin installed with snn-core and nothing else, so a missing dependency fails."""
    _install(session, "-e", _package("snn-core"), "-e", f"{_package(plugin)}[test]")
    session.chdir(_package(plugin))
    session.run("pytest", "-q", *session.posargs, env={**_env(), "SNN_CORE_BACKEND": "fused"})


@nox.session(tags=["tests"])
def integration(session: nox.Session) -> None:
    """Test every package and the sample third-party plugins installed together."""
    samples = sorted(
        str(path.parent) for path in (ROOT / "integration-tests").glob("*/pyproject.toml")
    )
    editable = [argument for name in ["snn-core", *PLUGINS] for argument in ("-e", _package(name))]
    _install(session, *editable, "pytest>=8", "hypothesis>=6", "scikit-learn>=1.3", "pillow>=10")
    _install(session, *[argument for sample in samples for argument in ("-e", sample)])
    # The core's neuron contract is parametrized over the registry, so it now covers plugin neurons.
    contract = ROOT / "packages" / "snn-core" / "tests" / "test_neuron_contract.py"
    session.run(
        "pytest", "-q", str(ROOT / "integration-tests"), str(contract), *session.posargs, env=_env()
    )


@nox.session(tags=["tests"])
def lint(session: nox.Session) -> None:
    """Run ruff check and ruff format --check over the whole repository."""
    session.install("ruff==0.17.6")
    session.run("ruff", "check", str(ROOT))
    session.run("ruff", "format", "--check", str(ROOT))


@nox.session
def demo(session: nox.Session) -> None:
    """Install everything and run each package's main job on its embedded default data."""
    editable = [argument for name in ["snn-core", *PLUGINS] for argument in ("-e", _package(name))]
    _install(session, *editable, "scikit-learn>=1.3", "scikit-image>=0.22", "matplotlib>=3.7")
    out = ROOT / "runs" / "demo"
    shutil.rmtree(out, ignore_errors=True)  # training refuses to overwrite a run, so start afresh
    session.run("snn", "plugins", env=_env())
    session.run(
        "snn",
        "train",
        "--model",
        "spiking-cnn",
        "--dataset",
        "digits",
        "--epochs",
        "15",
        "--out-dir",
        str(out / "train"),
        env=_env(),
    )
    for name in PLUGINS:
        for command in DEMO_COMMANDS.get(name, []):
            session.run(*[part.format(out=out / name) for part in command], env=_env())


# Each plugin's main job on embedded defaults; "{out}" is the plugin's folder under runs/demo.
DEMO_COMMANDS: dict[str, list[list[str]]] = {
    "snn-convert": [["snn", "convert", "--dataset", "digits", "--out-dir", "{out}"]],
    "snn-robust": [
        ["snn", "robust", "train", "--lam", "0", "--out-dir", "{out}/vanilla"],
        ["snn", "robust", "train", "--lam", "0.03", "--out-dir", "{out}/regularized"],
        [
            "snn",
            "robust",
            "eval",
            "--checkpoint",
            "{out}/vanilla/model",
            "{out}/regularized/model",
            "--out-dir",
            "{out}/eval",
        ],
    ],
    "spike-3dgs": [
        [
            "snn",
            "spike",
            "simulate",
            "--out",
            "{out}/camera.dat",
            "--height",
            "128",
            "--width",
            "128",
        ],
        ["snn", "spike", "info", "{out}/camera.dat", "--height", "128", "--width", "128"],
        [
            "snn",
            "spike",
            "reconstruct",
            "{out}/camera.dat",
            "--height",
            "128",
            "--width",
            "128",
            "--method",
            "tfp",
            "--max-rate",
            "0.5",
            "--out-dir",
            "{out}/tfp",
        ],
        [
            "snn",
            "spike",
            "reconstruct",
            "{out}/camera.dat",
            "--height",
            "128",
            "--width",
            "128",
            "--method",
            "tfi",
            "--out-dir",
            "{out}/tfi",
        ],
    ],
}


@nox.session
def bench(session: nox.Session) -> None:
    """Run the speed benchmarks, with SpikingJelly and snnTorch installed in this session only."""
    _install(session, "-e", _package("snn-core"), "spikingjelly", "snntorch")
    session.run(
        "python",
        str(ROOT / "benchmarks" / "snn-core" / "lif_speed.py"),
        *session.posargs,
        env=_env(),
    )
