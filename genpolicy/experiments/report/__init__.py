"""``genpolicy report DIR``: tables and plots made from run folders alone, or again from
the ``results.json`` of an earlier report (which embeds every run it was made from).

A run folder is any directory under DIR holding ``config.yaml`` and ``metrics.jsonl``
(``genpolicy train`` writes both). ``summary.json`` marks a finished run; ``trial.json``
(written by the sweep runner) names its group. Runs are grouped by (dataset, group),
seeds being the replicates; every extra ``eval_k{K}/...`` series (the same checkpoints
evaluated with K sampler steps) becomes its own group ``"<group> K=<K>"``, every
``eval_c{N}/...`` series (the best of N sampled actions by Q) a group ``"<group> N=<N>"``.

    from genpolicy.experiments.report import collect_runs, make_report, summarise
    md = make_report("runs")                  # runs/report/report.md, PNGs, results.json/csv
    results = summarise(collect_runs("runs")) # the same numbers as plain data
    make_report("runs/report/results.json", "again")  # the same report without the runs

Every number in ``report.md`` is rendered from the dict written to ``results.json``.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from genpolicy.errors import GenpolicyError
from genpolicy.experiments.jsonio import compact_json, write_text_atomic
from genpolicy.experiments.report.markdown import render_markdown, write_csv
from genpolicy.experiments.report.plots import action_pictures, plot_curves, slug
from genpolicy.experiments.report.runs import (
    DEFAULT_METRIC,
    FALLBACK_METRIC,
    RunRecord,
    collect_runs,
    dataset_label,
    embedded_runs,
    has_run_folders,
    read_results,
    summary_file,
)
from genpolicy.experiments.report.stats import stat, summarise


def make_report(
    root: str | Path,
    out: str | Path | None = None,
    metric: str | None = None,
    title: str | None = None,
    kept: Sequence[RunRecord] = (),
) -> Path:
    """Write report.md, its PNGs, results.json and results.csv; return report.md's path.

    ``root``: a folder of run folders, or a results.json (or a folder holding
    ``report/results.json``) whose embedded runs make the same report again: its metric,
    title, source folder and date are kept unless given. ``kept``: runs an earlier report
    embeds whose folders are gone (``genpolicy.experiments.reported``); they join the run
    folders under ``root`` (which may then hold none), a folder of the same name winning."""
    root = Path(root)
    source = summary_file(root)
    if out is None:
        out = source.parent if source is not None else root / "report"
    out = Path(out)
    previous: dict[str, Any] | None = None
    if source is None:
        runs = collect_runs(root) if not kept or has_run_folders(root) else []
        names = {r.name for r in runs}
        runs += [r for r in kept if r.name not in names]
    else:  # read once: its runs and its meta
        previous = read_results(source)
        runs = embedded_runs(previous, source)
    meta = (previous or {}).get("meta") or {}
    if metric:  # a metric that no run logged is a typo, not a null to fall back from
        logged = {key for r in runs for row in r.evals for key in row if "/" in key}
        if logged and metric not in logged:
            raise GenpolicyError(
                f"--metric {metric!r}: no run logged it; choose one of: {', '.join(sorted(logged))}"
            )
    metric = metric or meta.get("metric") or DEFAULT_METRIC
    title = title if title is not None else meta.get("title")
    results = summarise(runs, metric, root=root)
    if previous is not None:  # the numbers come from the runs of that report
        for key in ("root", "created"):
            results["meta"][key] = meta.get(key)
    results["meta"]["title"] = title
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GenpolicyError(f"cannot create report folder {out}: {exc.strerror}") from None
    for ds, d in results["datasets"].items():
        if any(g["curve"]["step"] for g in d["groups"].values()):
            d["plot"] = f"curves_{slug(ds)}.png"
            plot_curves(ds, d, metric, out / d["plot"], title)
    if previous is not None and source is not None:  # no checkpoints: keep its pictures
        results["actions"] = previous.get("actions", {})
        png = results["actions"].get("png") if results["actions"] else None
        if png and (source.parent / png).is_file() and source.parent.resolve() != out.resolve():
            shutil.copyfile(source.parent / png, out / png)
    else:
        results["actions"] = action_pictures(runs, out)
    results["runs"] = results.pop("runs")  # the runs last, one line each
    write_text_atomic(out / "results.json", dump_results(results))
    write_csv(results, out / "results.csv")
    md = out / "report.md"
    write_text_atomic(md, render_markdown(results, title))
    return md


def _expanded(path: tuple[str, ...]) -> bool:
    """Containers of results.json laid out one member a line: the top level and its
    sections, and per dataset its groups; everything deeper (a group, a run) is one line."""
    return len(path) <= 1 or (path[0] in ("datasets", "average") and len(path) <= 3)


def dump_results(results: dict[str, Any]) -> str:
    """results.json's text: JSON with one group or one run a line (git diffs stay readable
    and the file short)."""
    return compact_json(results, _expanded)


__all__ = [
    "DEFAULT_METRIC",
    "FALLBACK_METRIC",
    "RunRecord",
    "collect_runs",
    "dataset_label",
    "dump_results",
    "make_report",
    "render_markdown",
    "stat",
    "summarise",
    "write_csv",
]
