"""Merge the per-model results of `snn robust eval` into one table, one plot and one JSON.

Usage: python merge_results.py OUT_DIR EVAL_DIR [EVAL_DIR ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from snn_core.training.results import write_results
from snn_robust.evaluation import RobustAccuracy
from snn_robust.plotting import format_table, plot_accuracy_vs_eps


def main(out_dir: Path, eval_dirs: list[Path]) -> None:
    tables: dict[str, list[RobustAccuracy]] = {}
    models = []
    extra_lines = []
    for folder in eval_dirs:
        results = json.loads((folder / "results.json").read_text())
        for model in results["models"]:
            label = model["label"]
            lam = (model.get("robust_config") or {}).get("lam", 0.0)
            if lam:
                label = f"{label} λ={lam:g}"
            tables[label] = [RobustAccuracy(**row) for row in model["rows"]]
            models.append({**model, "label": label, "eval_seconds": results["eval_seconds"]})
            norms = model["gradient_norms"]
            extra_lines.append(
                f"| {label} | {norms['l1']:.3f} | {norms['l2']:.4f} | {results['eval_seconds']:.0f} |"
            )
    table = format_table(tables)
    norms_table = "\n".join(
        ["| model | mean ‖∇p‖₁ | mean ‖∇p‖₂ | eval seconds |", "|---|---:|---:|---:|", *extra_lines]
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    write_results(out_dir / "summary.json", {"models": models, "table_markdown": table})
    plot_accuracy_vs_eps(tables, out_dir / "accuracy_vs_eps.png")
    (out_dir / "table.md").write_text(table + "\n\n" + norms_table + "\n", encoding="utf-8")
    print(table)
    print()
    print(norms_table)


if __name__ == "__main__":
    main(Path(sys.argv[1]), [Path(argument) for argument in sys.argv[2:]])
