"""``genpolicy report DIR``: tables and plots made from run folders alone.

A run folder is any directory under DIR holding ``config.yaml`` and ``metrics.jsonl``
(``genpolicy train`` writes both). ``summary.json`` marks a finished run; ``trial.json``
(written by the sweep runner) names its group. Runs are grouped by (dataset, group),
seeds being the replicates; every extra ``eval_k{K}/...`` series (the same checkpoints
evaluated with K sampler steps) becomes its own group ``"<group> K=<K>"``, every
``eval_c{N}/...`` series (the best of N sampled actions by Q) a group ``"<group> N=<N>"``.

    from genpolicy.experiments.report import collect_runs, make_report, summarise
    md = make_report("runs")                  # runs/report/report.md, PNGs, results.json/csv
    results = summarise(collect_runs("runs")) # the same numbers as plain data

Every number in ``report.md`` is rendered from the dict written to ``results.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

from genpolicy.errors import GenpolicyError
from genpolicy.experiments.report.markdown import render_markdown, write_csv
from genpolicy.experiments.report.plots import action_pictures, plot_curves, slug
from genpolicy.experiments.report.runs import (
    DEFAULT_METRIC,
    FALLBACK_METRIC,
    RunRecord,
    collect_runs,
    dataset_label,
)
from genpolicy.experiments.report.stats import stat, summarise


def make_report(
    root: str | Path,
    out: str | Path | None = None,
    metric: str = DEFAULT_METRIC,
    title: str | None = None,
) -> Path:
    """Write report.md, its PNGs, results.json and results.csv; return report.md's path."""
    root = Path(root)
    out = Path(out) if out is not None else root / "report"
    runs = collect_runs(root)
    results = summarise(runs, metric, root=root)
    results["meta"]["title"] = title
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GenpolicyError(f"cannot create report folder {out}: {exc.strerror}") from None
    for ds, d in results["datasets"].items():
        if any(g["curve"]["step"] for g in d["groups"].values()):
            d["plot"] = f"curves_{slug(ds)}.png"
            plot_curves(ds, d, metric, out / d["plot"], title)
    results["actions"] = action_pictures(runs, out)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    write_csv(results, out / "results.csv")
    md = out / "report.md"
    md.write_text(render_markdown(results, title))
    return md


__all__ = [
    "DEFAULT_METRIC",
    "FALLBACK_METRIC",
    "RunRecord",
    "collect_runs",
    "dataset_label",
    "make_report",
    "render_markdown",
    "stat",
    "summarise",
    "write_csv",
]
