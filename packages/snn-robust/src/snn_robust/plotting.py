"""Plots and text tables of robustness results."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from snn_robust.evaluation import RobustAccuracy

__all__ = ["format_table", "plot_accuracy_vs_eps"]

_STYLES = {"uniform": ":", "fgsm": "--", "pgd": "-"}


def format_table(results: dict[str, Sequence[RobustAccuracy]]) -> str:
    """Format accuracies as a Markdown table with one row per model and one column per setting.

    Args:
        results: ``{model label: rows from robustness_table}``; every model must have the same rows.

    Returns:
        The table, accuracies in percent with one decimal.
    """
    labels = list(results)
    if not labels:
        return ""
    columns = [_column_name(row) for row in results[labels[0]]]
    lines = [
        "| model | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for label in labels:
        cells = [f"{100 * row.accuracy:.1f}" for row in results[label]]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _column_name(row: RobustAccuracy) -> str:
    kind = row.attack["kind"]
    if kind == "clean":
        return "clean"
    if kind == "pgd":
        name = f"PGD-{row.attack['steps']}"
    elif kind == "fgsm":
        name = "FGSM"
    else:
        name = kind
    return f"{name} ε={row.attack['eps']:g}"


def plot_accuracy_vs_eps(results: dict[str, Sequence[RobustAccuracy]], path: str | Path) -> Path:
    """Plot accuracy against eps per model, one line per perturbation kind, and save it as an image.

    The clean accuracy is drawn as the point ``eps = 0`` of every line.

    Args:
        results: ``{model label: rows from robustness_table}``.
        path: Output file; the suffix picks the format (``.png``, ``.pdf``).

    Returns:
        The written path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    figure, axes = plt.subplots(figsize=(6.0, 4.0))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (label, rows) in enumerate(results.items()):
        clean = next((row.accuracy for row in rows if row.attack["kind"] == "clean"), None)
        for kind, style in _STYLES.items():
            points = sorted(
                (row.attack["eps"], row.accuracy) for row in rows if row.attack["kind"] == kind
            )
            if not points:
                continue
            if clean is not None:
                points = [(0.0, clean), *points]
            axes.plot(
                [eps for eps, _ in points],
                [100 * accuracy for _, accuracy in points],
                linestyle=style,
                marker="o",
                color=colors[index % len(colors)],
                label=f"{label}: {kind}",
            )
    axes.set_xlabel("ε (L∞, pixel units)")
    axes.set_ylabel("accuracy (%)")
    axes.set_ylim(0, 100)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
