"""The ``snn`` command. Plugins add subcommands through the ``snn_add_commands`` hook."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from snn_core.registry import ALL_REGISTRIES, MODELS
from snn_core.surrogate import resolve_surrogate
from snn_core.training.results import write_results
from snn_core.training.trainer import resolve_device

__all__ = [
    "add_common_arguments",
    "add_model_arguments",
    "add_optimizer_arguments",
    "build_parser",
    "main",
    "output_folder",
    "parse_json_object",
    "positive_int",
    "resolve_device",
    "write_results",
]

logger = logging.getLogger(__name__)


def output_folder(text: str) -> Path:
    """Parse an output folder (an argparse ``type``): a folder or a path that does not exist yet."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(
            f"{text} is a file, not a folder; choose a folder for the outputs"
        )
    return path


def _add_verbosity_flags(parser: argparse.ArgumentParser, default: Any) -> None:
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument(
        "-v",
        "--verbose",
        action="store_const",
        const=1,
        dest="verbosity",
        default=default,
        help="log debug messages",
    )
    verbosity.add_argument(
        "-q",
        "--quiet",
        action="store_const",
        const=-1,
        dest="verbosity",
        default=default,
        help="log warnings and errors only, no progress bars",
    )


def add_common_arguments(parser: argparse.ArgumentParser, out_dir: str | None = None) -> None:
    """Add ``--device``, ``--seed``, ``--out-dir`` and ``-v``/``-q`` to a subcommand's parser.

    ``-v`` and ``-q`` may then follow the command name as well as precede it.

    Args:
        parser: The subcommand's parser.
        out_dir: Default output folder; None means the command writes no files unless asked.
    """
    # SUPPRESS: without the flag the subcommand leaves the value `snn -v` set untouched.
    _add_verbosity_flags(parser, default=argparse.SUPPRESS)
    parser.add_argument(
        "--device",
        default="auto",
        help="torch device: auto (CUDA when available, else CPU), cpu, cuda, cuda:N",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="random seed of initialisation, data order and encoders"
    )
    parser.add_argument(
        "--out-dir",
        type=output_folder,
        default=None if out_dir is None else Path(out_dir),
        help="folder for results JSON, checkpoints, plots and the log",
    )


def _rank() -> int:
    return int(os.environ.get("RANK", "0"))


def _log_format() -> str:
    prefix = f"[rank {_rank()}] " if int(os.environ.get("WORLD_SIZE", "1")) > 1 else ""
    return f"%(asctime)s {prefix}%(levelname)s %(name)s: %(message)s"


_console_handler: logging.Handler | None = None


def _configure_logging(verbosity: int) -> None:
    """Route log records to stderr at the level ``verbosity`` selects (-1, 0 or 1)."""
    global _console_handler
    level = {-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG)
    root = logging.getLogger()
    if _console_handler is None:
        _console_handler = logging.StreamHandler(sys.stderr)
        root.addHandler(_console_handler)
    _console_handler.setFormatter(logging.Formatter(_log_format()))
    root.setLevel(level)


def _verbosity_from(arguments: Sequence[str]) -> int:
    # Read before parsing, so that plugin load failures during parser construction are shown.
    if any(argument in ("-q", "--quiet") for argument in arguments):
        return -1
    return 1 if any(argument in ("-v", "--verbose") for argument in arguments) else 0


def _add_file_log(out_dir: Path | None) -> logging.Handler | None:
    if out_dir is None or _rank() != 0:
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(out_dir / "log.txt", encoding="utf-8")
    handler.setFormatter(logging.Formatter(_log_format()))
    logging.getLogger().addHandler(handler)
    return handler


# ------------------------------------------------------------------------------------------------
# snn plugins / snn list


def _run_plugins(args: argparse.Namespace) -> int:
    from snn_core.plugins import plugin_report

    report = plugin_report()
    commands: dict[str, list[str]] = getattr(args, "plugin_commands", {})
    if args.json:
        rows = [
            {**vars(info), "loaded": info.loaded, "commands": commands.get(info.name, [])}
            for info in report
        ]
        print(json.dumps(rows, indent=2))
        return 0
    for info in report:
        status = "ok" if info.loaded else "FAILED"
        print(f"{info.name} ({info.distribution} {info.version}): {status}")
        for kind, names in info.registered.items():
            print(f"  {kind}: {', '.join(names)}")
        if commands.get(info.name):
            print(f"  commands: {', '.join(commands[info.name])}")
        if info.error:
            print(f"  error: {info.error}")
    return 0


def _run_list(args: argparse.Namespace) -> int:
    registry = ALL_REGISTRIES[args.kind]
    for entry in registry.entries():
        print(f"{entry.name}\t{entry.owner}")
    return 0


# ------------------------------------------------------------------------------------------------
# snn train


def positive_int(text: str) -> int:
    """Parse a command-line integer that must be at least 1 (an argparse ``type``)."""
    try:
        value = int(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from error
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parse_json_object(text: str) -> dict[str, Any]:
    """Parse a command-line JSON object such as ``'{"tau": 2.0}'`` (an argparse ``type``)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON: {text!r} ({error.msg})") from error
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(
            f"expected a JSON object such as '{{\"tau\": 2.0}}', got {text!r}"
        )
    return value


def _run_train(args: argparse.Namespace) -> int:
    from snn_core.datasets import load_dataset
    from snn_core.training import TrainConfig, Trainer

    resolve_device(args.device)  # fail before loading data
    config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        optimizer=args.optimizer,
        weight_decay=args.weight_decay,
        seed=args.seed,
        device=args.device,
        out_dir=None if args.out_dir is None else str(args.out_dir),
        resume=args.resume,
        max_grad_norm=args.max_grad_norm,
        progress=not args.quiet,
    )
    if args.surrogate is not None:
        resolve_surrogate(args.surrogate)  # an unknown name fails before the data loads
    torch.manual_seed(args.seed)
    dataset_options: dict[str, Any] = dict(args.dataset_kwargs)
    if args.holdout_fraction is not None:
        dataset_options["holdout_fraction"] = args.holdout_fraction
    try:
        splits = load_dataset(args.dataset, data_dir=args.data_dir, **dataset_options)
    except TypeError as error:
        raise ValueError(
            f"invalid --dataset-kwargs {json.dumps(dataset_options)} for dataset "
            f"{args.dataset!r}: {error}"
        ) from error
    info = splits.info
    neuron_kwargs = dict(args.neuron_kwargs)
    if args.surrogate is not None:
        neuron_kwargs["surrogate"] = args.surrogate
    model_spec = {
        "name": args.model,
        "time_steps": args.time_steps,
        "neuron": args.neuron,
        "neuron_kwargs": neuron_kwargs,
    }
    try:
        model = MODELS.build(
            args.model,
            in_channels=info.in_channels,
            num_classes=info.num_classes,
            image_size=info.image_size,
            time_steps=args.time_steps,
            neuron=args.neuron,
            neuron_kwargs=neuron_kwargs,
        )
    except TypeError as error:
        raise ValueError(
            f"invalid --neuron-kwargs {json.dumps(neuron_kwargs)} for neuron {args.neuron!r}: {error}"
        ) from error
    logger.info("training %s on %s (%s)", args.model, info.name, info.split_note)
    trainer = Trainer(model, splits, config, model_spec=model_spec)
    results = trainer.fit()
    if not trainer.is_main_process:
        return 0
    results["model"] = model_spec
    if args.out_dir is not None:
        write_results(args.out_dir / "results.json", results)
    print(
        f"test accuracy: {results['test_accuracy']:.4f} after {len(results['history'])} epochs "
        f"({results['train_seconds']:.1f} s)"
    )
    return 0


def add_model_arguments(
    parser: argparse.ArgumentParser, neuron: str = "lif", surrogate: str | None = None
) -> None:
    """Add ``--model``, ``--neuron``, ``--neuron-kwargs``, ``--surrogate`` and ``--time-steps``.

    Args:
        parser: The subcommand's parser.
        neuron: Default registered neuron name.
        surrogate: Default registered surrogate name; None keeps each neuron's own default.
    """
    parser.add_argument(
        "--model", default="spiking-cnn", help="registered model name (snn list models)"
    )
    parser.add_argument(
        "--neuron", default=neuron, help="registered neuron name (snn list neurons)"
    )
    parser.add_argument(
        "--neuron-kwargs",
        type=parse_json_object,
        default={},
        help="neuron settings as a JSON object, e.g. '{\"tau\": 2.0}'",
    )
    parser.add_argument(
        "--surrogate", default=surrogate, help="registered surrogate name (snn list surrogates)"
    )
    parser.add_argument("--time-steps", type=positive_int, default=4, help="simulation steps T")


def add_optimizer_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--epochs``, ``--batch-size``, ``--lr``, ``--optimizer`` and ``--weight-decay``."""
    parser.add_argument(
        "--epochs", type=positive_int, default=15, help="passes over the training split"
    )
    parser.add_argument(
        "--batch-size", type=positive_int, default=64, help="samples per step and process"
    )
    parser.add_argument(
        "--lr", type=float, default=2e-3, help="initial learning rate (cosine decay)"
    )
    parser.add_argument("--optimizer", choices=("adam", "sgd"), default="adam", help="optimizer")
    parser.add_argument("--weight-decay", type=float, default=0.0, help="L2 penalty")


def _add_train_command(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "train",
        help="train a spiking classifier with surrogate-gradient BPTT",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--dataset", default="digits", help="registered dataset name (snn list datasets)"
    )
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="folder with the dataset's files"
    )
    parser.add_argument(
        "--holdout-fraction",
        type=float,
        default=None,
        help="hold out this fraction of each class as the test split (digits, image-folder); for "
        "mnist and fashion-mnist, split the t10k files into train and test parts",
    )
    parser.add_argument(
        "--dataset-kwargs",
        type=parse_json_object,
        default={},
        help='more reader settings as a JSON object, e.g. \'{"image_size": 64, "grey": true}\' '
        "for image-folder",
    )
    add_model_arguments(parser)
    add_optimizer_arguments(parser)
    parser.add_argument(
        "--max-grad-norm", type=float, default=None, help="clip the gradient norm to this value"
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue from the checkpoint in --out-dir"
    )
    add_common_arguments(parser)
    parser.set_defaults(handler=_run_train)


# ------------------------------------------------------------------------------------------------
# Parser and entry point


def build_parser() -> argparse.ArgumentParser:
    """Return the ``snn`` parser with the core subcommands and every plugin's subcommands."""
    from snn_core.plugins import get_plugin_manager

    parser = argparse.ArgumentParser(prog="snn", description="Spiking neural network toolkit.")
    _add_verbosity_flags(parser, default=0)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")

    plugins_parser = subparsers.add_parser(
        "plugins", help="list installed plugins and what each registered"
    )
    plugins_parser.add_argument("--json", action="store_true", help="print the report as JSON")
    plugins_parser.set_defaults(handler=_run_plugins)

    list_parser = subparsers.add_parser("list", help="list registered names of one kind")
    list_parser.add_argument("kind", choices=sorted(ALL_REGISTRIES), help="what to list")
    list_parser.set_defaults(handler=_run_list)

    _add_train_command(subparsers)
    commands = {"snn-core": sorted(subparsers.choices)}
    commands.update(_add_plugin_commands(get_plugin_manager(), subparsers))
    parser.set_defaults(plugin_commands=commands)  # for `snn plugins`
    return parser


def _add_plugin_commands(
    manager: Any,
    subparsers: argparse._SubParsersAction,  # type: ignore[type-arg]
) -> dict[str, list[str]]:
    """Call each plugin's ``snn_add_commands`` alone, so one broken plugin leaves the others working.

    Returns:
        ``{plugin name: [command, ...]}`` for the plugins that added commands.
    """
    added: dict[str, list[str]] = {}
    for implementation in manager.hook.snn_add_commands.get_hookimpls():
        before = set(subparsers.choices)
        try:
            implementation.function(subparsers=subparsers)
        except Exception as error:  # a plugin's bug must not take every other command down
            logger.warning(
                "plugin %r could not add its commands: %s: %s",
                implementation.plugin_name,
                type(error).__name__,
                error,
            )
        names = sorted(set(subparsers.choices) - before)
        if names:
            added[implementation.plugin_name] = names
    return added


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``snn`` command with ``argv`` (default: the process arguments); return the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    _configure_logging(_verbosity_from(arguments))
    parser = build_parser()
    args = parser.parse_args(arguments)
    args.quiet = args.verbosity < 0
    _configure_logging(args.verbosity)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    file_log: logging.Handler | None = None
    try:
        file_log = _add_file_log(getattr(args, "out_dir", None))
        return int(handler(args) or 0)
    except (
        ValueError,
        TypeError,
        OSError,
        ImportError,
        FloatingPointError,
        KeyError,
        RuntimeError,
    ) as error:
        # One line for the user; `snn -v` logs the traceback as well.
        logger.debug("command failed", exc_info=True)
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"snn {args.command}: error: {message}", file=sys.stderr)
        return 1
    except Exception as error:  # a bug, often in a plugin's command: still one line without -v
        logger.debug("command failed", exc_info=True)
        print(
            f"snn {args.command}: error: unexpected {type(error).__name__}: {error} "
            f"(run `snn -v {args.command} ...` for the traceback)",
            file=sys.stderr,
        )
        return 1
    finally:
        if file_log is not None:
            logging.getLogger().removeHandler(file_log)
            file_log.close()
