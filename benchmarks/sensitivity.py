"""Score against one setting of a sweep's grid (e.g. the temperature beta), per dataset, with
several sweeps side by side (e.g. GMPO's and GMPG's temperature).

    python benchmarks/sensitivity.py benchmarks/results/temperature-gmpo/report/results.json \
        benchmarks/results/temperature-gmpg/report/results.json --key algo.beta \
        --steps 5000,20000 --out benchmarks/results/temperature

Each argument is a report's ``results.json`` (``genpolicy report``), whose runs keep their
trial's overrides. For every sweep, dataset, value of ``--key`` and step of ``--steps``: the
scores (``eval/score_mean``) of the runs evaluated at that step, their mean, sample std and
seeds. Writes ``OUT/sensitivity.json`` (those rows) and ``OUT/sensitivity.png`` (one panel per
dataset: the mean score against the key's value on a log axis, one line per sweep and step,
bars of one std). A run that has not reached a step yet is left out of that step's cell, and
the cell says how many seeds it holds.

``--train-metric NAME`` (repeatable, e.g. ``policy/weight_ess``) adds each cell's training
metric at its step, read from the runs' ``metrics.jsonl`` under the report's run folder
(``meta.root``, relative to the working directory, or ``--runs``): the run's training row at
that step, or its last one before it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from genpolicy.errors import GenpolicyError
from genpolicy.experiments.jsonio import compact_json
from genpolicy.experiments.report.plots import palette_png
from genpolicy.training.logger import read_rows

METRIC = "eval/score_mean"


def sweep_name(results: dict[str, Any], path: Path) -> str:
    """The sweep a results.json reports: its runs' folder's parent (``<out>/runs``)."""
    root = Path(str(results.get("meta", {}).get("root", "")))
    return root.parent.name if root.name == "runs" else path.parent.parent.name


def train_metrics(run_dir: Path, step: int, names: list[str]) -> dict[str, float]:
    """The training row of ``run_dir/metrics.jsonl`` at ``step`` (or the last before it)."""
    path = run_dir / "metrics.jsonl"
    try:
        rows, _ = read_rows(path)  # lines cut by a crash are no rows
    except OSError:
        raise GenpolicyError(
            f"{path}: missing; --train-metric reads the run folders (give --runs FOLDER)"
        ) from None
    best: dict[str, Any] | None = None
    for row in rows:
        at = row["step"]
        if row.get("kind") == "train" and at <= step and (best is None or at >= best["step"]):
            best = row
    missing = [n for n in names if best is None or best.get(n) is None]
    if missing:
        raise GenpolicyError(f"{path}: no training row up to step {step} has {missing[0]}")
    assert best is not None
    return {n: float(best[n]) for n in names}


def rows_of(
    path: Path,
    key: str,
    steps: list[int],
    train_names: list[str] | None = None,
    runs_dir: Path | None = None,
) -> list[dict[str, Any]]:
    """One row per (dataset, key value, step) of the sweep reported in ``path``; with
    ``train_names``, each row also holds those training metrics per seed and their mean."""
    try:
        results = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise GenpolicyError(f"{path}: cannot read a report's results.json ({exc})") from None
    name = sweep_name(results, path)
    cells: dict[tuple[str, float, int], list[tuple[int, float, str]]] = defaultdict(list)
    algos: dict[str, str] = {}
    for run in results.get("runs", []):
        overrides = (run.get("trial") or {}).get("overrides", {})
        if key not in overrides:
            continue
        try:
            value = float(overrides[key])
        except (TypeError, ValueError):
            raise GenpolicyError(
                f"--key {key}: {overrides[key]!r} is no number; name a numeric grid setting"
            ) from None
        by_step = {int(e["step"]): e.get(METRIC) for e in run.get("evals", [])}
        algos[name] = str(run.get("algo"))
        for step in steps:
            score = by_step.get(step)
            if score is not None:
                cells[(run["dataset"], value, step)].append(
                    (int(run["seed"]), float(score), str(run.get("name")))
                )
    if not algos:
        raise GenpolicyError(f"{path}: no run has {key} among its trial's overrides")
    rows = []
    for (dataset, value, step), pairs in sorted(cells.items()):
        pairs.sort()
        seeds = [seed for seed, _, _ in pairs]
        if len(set(seeds)) < len(seeds):
            raise GenpolicyError(
                f"{path}: runs of {dataset} with {key}={value:g} differ in another grid "
                "setting too (a seed repeats); report those runs apart"
            )
        scores = [s for _, s, _ in pairs]
        row: dict[str, Any] = {
            "sweep": name,
            "algo": algos[name],
            "dataset": dataset,
            "key": key,
            "value": value,
            "step": step,
            "mean": statistics.fmean(scores),
            "std": statistics.stdev(scores) if len(scores) > 1 else None,
            "seeds": seeds,
            "scores": scores,
        }
        if train_names:
            root = runs_dir or Path(str(results.get("meta", {}).get("root", "")))
            per_run = [train_metrics(root / run, step, train_names) for _, _, run in pairs]
            row["train"] = {
                n: {
                    "mean": statistics.fmean(m[n] for m in per_run),
                    "values": [m[n] for m in per_run],
                }
                for n in train_names
            }
        rows.append(row)
    return rows


def plot(rows: list[dict[str, Any]], key: str, out: Path) -> None:
    """One panel per dataset: mean score against the key, one line per sweep and step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = sorted({r["dataset"] for r in rows})
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.8 * len(datasets), 3.8), squeeze=False)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        lines = sorted({(r["sweep"], r["step"]) for r in rows if r["dataset"] == dataset})
        for sweep, step in lines:
            pts = [
                r for r in rows if (r["dataset"], r["sweep"], r["step"]) == (dataset, sweep, step)
            ]
            ax.errorbar(
                [r["value"] for r in pts],
                [r["mean"] for r in pts],
                yerr=[r["std"] or 0.0 for r in pts],
                marker="o",
                capsize=3,
                label=f"{sweep} @ {step / 1000:g}k",
            )
        ax.set_xscale("log")
        ax.set_xlabel(key)
        ax.set_ylabel("normalised score")
        ax.set_title(dataset, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)
    palette_png(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("results", nargs="+", type=Path, help="reports' results.json files")
    p.add_argument("--key", default="algo.beta", help="the grid's setting (default algo.beta)")
    p.add_argument("--steps", default="20000", help="comma-separated evaluation steps")
    p.add_argument("--out", type=Path, required=True, help="folder for the JSON and the PNG")
    p.add_argument(
        "--train-metric",
        action="append",
        default=[],
        metavar="NAME",
        help="a training metric to add per cell, e.g. policy/weight_ess (repeatable)",
    )
    p.add_argument(
        "--runs",
        type=Path,
        default=None,
        help="the run folders for --train-metric (default: the report's meta.root)",
    )
    a = p.parse_args(argv)
    try:
        try:
            steps = [int(s) for s in a.steps.split(",") if s.strip()]
        except ValueError:
            raise GenpolicyError(
                f"--steps {a.steps}: give update counts, e.g. 5000,20000"
            ) from None
        if a.runs is not None and len(a.results) > 1:
            raise GenpolicyError("--runs names one sweep's run folders; give one results.json")
        rows = [
            row for path in a.results for row in rows_of(path, a.key, steps, a.train_metric, a.runs)
        ]
        if not rows:
            raise GenpolicyError(f"no run was evaluated at --steps {a.steps}")
        a.out.mkdir(parents=True, exist_ok=True)
        args = sys.argv[1:] if argv is None else argv
        meta = {"command": " ".join(["python benchmarks/sensitivity.py", *args])}
        (a.out / "sensitivity.json").write_text(compact_json({"meta": meta, "rows": rows}))
        plot(rows, a.key, a.out / "sensitivity.png")
    except GenpolicyError as exc:
        print(f"sensitivity: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {a.out / 'sensitivity.json'} and {a.out / 'sensitivity.png'} ({len(rows)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
