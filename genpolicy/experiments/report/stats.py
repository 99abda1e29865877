"""The numbers of a report: per-group statistics over seeds, curves, averages over datasets.

Every number a report shows comes from the dict ``summarise`` returns."""

from __future__ import annotations

import datetime
import statistics
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from genpolicy.errors import GenpolicyError
from genpolicy.experiments.report.runs import (
    DEFAULT_METRIC,
    FALLBACK_METRIC,
    MAX_STEP_COLUMNS,
    TOY_DATASET,
    VARIANT_LABELS,
    VARIANT_ORDER,
    RunRecord,
    Stat,
    run_entry,
    variant_label,
    variant_metric,
)


def stat(pairs: Iterable[tuple[int, float]]) -> Stat:
    """Mean and sample std (n - 1 denominator; None below two values) of (seed, value)."""
    pairs = sorted(pairs)
    values = [v for _, v in pairs]
    return {
        "mean": statistics.fmean(values) if values else None,
        "std": statistics.stdev(values) if len(values) >= 2 else None,
        "n": len(values),
        "seeds": [s for s, _ in pairs],
        "values": values,
    }


Series = list[tuple[RunRecord, list[tuple[int, float]]]]


def _group_series(
    runs: list[RunRecord], metric: str
) -> dict[str, tuple[str, tuple[str, int] | None, Series]]:
    """label -> (base group, variant, [(run, series)]) with base groups before their
    variants (K sampler steps, then N candidates)."""
    keyed: dict[tuple[str, tuple[str, int]], Series] = {}
    for r in runs:
        keyed.setdefault((r.group, ("", -1)), []).append((r, r.series(metric)))
        for v in r.variants():
            if variant_metric(metric, v):
                keyed.setdefault((r.group, v), []).append((r, r.series(metric, v)))
    out = {}
    for (base, v), members in sorted(
        keyed.items(), key=lambda kv: (kv[0][0], VARIANT_ORDER[kv[0][1][0]], kv[0][1][1])
    ):
        variant = None if v[0] == "" else v
        out[variant_label(base, variant)] = (base, variant, members)
    return out


def _curve(members: list[tuple[RunRecord, list[tuple[int, float]]]]) -> dict[str, list[Any]]:
    """Mean/min/max over runs per eval step. A step that a run went past without evaluating
    it (off the common grid) is skipped, so the mean never switches seeds there; after a
    shorter (unfinished) run ends, the remaining runs carry on."""
    by_step: dict[int, list[float]] = {}
    for _, series in members:
        for step, v in series:
            by_step.setdefault(step, []).append(v)
    reached = [(s[-1][0], {st for st, _ in s}) for _, s in members if s]
    steps = [st for st in sorted(by_step) if all(st in own or end < st for end, own in reached)]
    return {
        "step": steps,
        "mean": [statistics.fmean(by_step[s]) for s in steps],
        "min": [min(by_step[s]) for s in steps],
        "max": [max(by_step[s]) for s in steps],
        "n": [len(by_step[s]) for s in steps],
    }


def _milestones(steps: list[int], limit: int = MAX_STEP_COLUMNS) -> list[int]:
    """A readable subset of eval steps: 1-2-5 round numbers (plus the last), at most limit."""
    if len(steps) <= limit:
        return steps
    nice = [s for s in steps if s > 0 and str(s).rstrip("0") in ("1", "2", "5")]
    cand = sorted(set(nice) | {steps[-1]}) if len(nice) >= 2 else steps
    if len(cand) <= limit:
        return cand
    idx = {round(i * (len(cand) - 1) / (limit - 1)) for i in range(limit)}
    return [cand[i] for i in sorted(idx)]


def summarise(
    runs: list[RunRecord], metric: str = DEFAULT_METRIC, *, root: str | Path | None = None
) -> dict[str, Any]:
    """Every number of the report as plain data (what ``results.json`` holds).

    Per dataset: the metric used (``eval/return_mean`` when ``metric`` is null in every run
    of the dataset), and per group the seeds, last/best stats over finished runs, the metric
    at the eval steps every finished run shares, the learning curve over all runs
    (mean/min/max per step) and the training speed. ``average``: per group, the mean over
    datasets per seed, then mean and std over seeds (seeds present in every dataset).
    """
    if not runs:
        raise GenpolicyError("no runs to summarise; collect_runs(DIR) finds them")
    now = datetime.datetime.now(datetime.UTC)
    from genpolicy import __version__

    meta = {
        "root": str(root) if root is not None else None,
        "created": now.strftime("%Y-%m-%d %H:%M UTC"),
        "metric": metric,
        "runs": len(runs),
        "finished": sum(r.finished for r in runs),
        "unfinished": sum(r.status == "unfinished" for r in runs),
        "interrupted": sum(r.status == "interrupted" for r in runs),
        "genpolicy_version": __version__,
    }
    out: dict[str, Any] = {
        "meta": meta,
        "runs": [run_entry(r) for r in runs],
        "datasets": {},
    }
    for ds in sorted({r.dataset for r in runs}):
        out["datasets"][ds] = _summarise_dataset([r for r in runs if r.dataset == ds], metric)
    out["average"] = _average(out["datasets"], metric)
    return out


def _summarise_dataset(runs: list[RunRecord], metric: str) -> dict[str, Any]:
    used = metric
    if metric != FALLBACK_METRIC and not any(r.series(metric) for r in runs):
        used = FALLBACK_METRIC
    groups: dict[str, Any] = {}
    for label, (base, variant, members) in _group_series(runs, used).items():
        done = [(r, s) for r, s in members if r.finished and s]
        shared = set.intersection(*({st for st, _ in s} for _, s in done)) if done else set()
        at_steps = [
            {"step": st, **stat((r.seed, dict(s)[st]) for r, s in done)} for st in sorted(shared)
        ]
        group_runs = [r for r, _ in members]
        groups[label] = {
            "base": base,
            "k": variant[1] if variant and variant[0] == "k" else None,  # K sampler steps
            "variant": variant_label("", variant).strip() or None,  # "K=5", "N=16" or None
            "runs": len(members),
            "seeds": sorted(r.seed for r, _ in done),
            "left_out": {
                "unfinished": sorted(r.name for r in group_runs if r.status == "unfinished"),
                "interrupted": sorted(r.name for r in group_runs if r.status == "interrupted"),
                "no_evaluations": sorted(r.name for r, s in members if r.finished and not s),
            },
            "final_step": max((s[-1][0] for _, s in done), default=None),
            "last": stat((r.seed, s[-1][1]) for r, s in done),
            "best": stat((r.seed, max(v for _, v in s)) for r, s in done),
            "at_steps": at_steps,
            "curve": _curve([(r, s) for r, s in members if s]),
            "curve_seeds": sorted(r.seed for r, s in members if s),
            "unfinished_in_curve": sum(1 for r, s in members if s and not r.finished),
        }
        if variant is None:
            groups[label]["speed"] = {
                "steps_per_s": stat(
                    (r.seed, v) for r in group_runs if (v := r.steps_per_s()) is not None
                ),
                "train_seconds": stat(  # an interrupted run's seconds are a part of a run
                    (r.seed, v)
                    for r in group_runs
                    if r.finished and (v := r.train_seconds()) is not None
                ),
            }
    columns = sorted({a["step"] for g in groups.values() for a in g["at_steps"]})
    files = Counter(r.fingerprint for r in runs if r.fingerprint)
    return {
        "metric": used,
        "files": dict(files.most_common()),  # dataset fingerprint -> runs, most runs first
        "fallback": used != metric,
        "runs": len(runs),
        "left_out": sum(1 for r in runs if not r.finished),
        "step_columns": _milestones(columns),
        "groups": groups,
    }


def _average(datasets: dict[str, Any], metric: str) -> dict[str, Any]:
    names = [ds for ds, d in datasets.items() if not d["fallback"] and ds != TOY_DATASET]
    out: dict[str, Any] = {"metric": metric, "datasets": names, "groups": {}, "omitted": {}}
    if len(names) < 2:
        out["note"] = f"fewer than two datasets (other than {TOY_DATASET}) report the metric"
        return out
    labels = sorted({g for ds in names for g in datasets[ds]["groups"]}, key=_label_key)
    for label in labels:
        missing = [ds for ds in names if not datasets[ds]["groups"].get(label, {}).get("seeds")]
        if missing:
            out["omitted"][label] = f"no finished runs on {', '.join(missing)}"
            continue
        entry: dict[str, Any] = {}
        for which in ("last", "best"):
            per_ds = []
            for ds in names:
                st = datasets[ds]["groups"][label][which]
                by_seed: dict[int, list[float]] = {}
                for s, v in zip(st["seeds"], st["values"], strict=True):
                    by_seed.setdefault(s, []).append(v)
                per_ds.append({s: statistics.fmean(v) for s, v in by_seed.items()})
            common = sorted(set.intersection(*(set(p) for p in per_ds)))
            entry[which] = stat((s, statistics.fmean(p[s] for p in per_ds)) for s in common)
        if not entry["last"]["n"]:
            out["omitted"][label] = "no seed is present in every dataset"
            continue
        entry["seeds"] = entry["last"]["seeds"]
        out["groups"][label] = entry
    return out


def _label_key(label: str) -> tuple[str, int, int]:
    for kind, name in VARIANT_LABELS.items():
        base, _, n = label.rpartition(f" {name}=")
        if base and n.isdigit():
            return (base, VARIANT_ORDER[kind], int(n))
    return (label, 0, -1)
