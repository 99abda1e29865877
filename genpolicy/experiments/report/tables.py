"""Markdown tables for README/docs, generated from `genpolicy report` results (never typed).

    genpolicy tables benchmarks/results/levers-gmpo/report/results.json \
        benchmarks/results/levers-reference/report/results.json --steps 5000,10000,20000
    genpolicy tables ... --name levers --update README.md docs/benchmarks/index.md

Rows are groups (one configuration, all its seeds), columns are datasets x update counts:
mean +- sample std over seeds, with the number of seeds. With ``--update FILE`` the table
replaces the text between ``<!-- results:NAME -->`` and ``<!-- /results:NAME -->`` in FILE.

Given a folder of run folders instead, or a report's results.json (which keeps its runs'
summaries) with ``--act-speed``, the table compares algorithms: one row per algorithm, the
last evaluation's score of each dataset from the run summaries, and actions/s at batch 1
from ``benchmarks/act_speed.py``'s JSON (``--act-speed``):

    genpolicy tables benchmarks/results/baselines-medium-replay/report/results.json \
        --act-speed benchmarks/results/act_speed_baselines.json \
        --groups qgpo,idql,srpo,dql,fql,gmpo,gtp,iql \
        --datasets hopper-medium-replay-v5,halfcheetah-medium-replay-v5

Given a folder of ``genpolicy evaluate RUN > FOLDER/RUN.json`` outputs (runs evaluated
again, e.g. on 100 episodes), the table has one row per group (the run name without its
``-s<seed>``): each seed's score, their mean and spread, and with ``--target GROUP`` the
mean as a percentage of that group's:

    genpolicy tables benchmarks/results/noisy-expert-draw2/eval100 --target bc-deterministic
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import sys
from pathlib import Path
from typing import Any

from genpolicy.errors import GenpolicyError
from genpolicy.experiments.report import collect_runs, stat
from genpolicy.experiments.report.bench_tables import (
    ensemble_table,
    grid_table,
    memory_table,
    noise_table,
    parity_table,
    pg_phase_table,
    rate,
    speed_table,
    train_speed_table,
)
from genpolicy.experiments.report.runs import summary_file

ALGO_NAMES = {"dql": "Diffusion-QL"}  # a group's name in tables: else its upper-cased name


def cell(st: dict[str, Any] | None, digits: int = 1) -> str:
    if not st or st.get("mean") is None:
        return "—"
    n = int(st.get("n", 0))
    if n >= 2 and st.get("std") is not None:
        return f"{st['mean']:.{digits}f} ± {st['std']:.{digits}f} ({n})"
    return f"{st['mean']:.{digits}f} ({n})"


def by_group(results: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """group -> dataset -> that group's entry in a results.json (later files win)."""
    groups: dict[str, dict[str, dict[str, Any]]] = {}
    for res in results:
        for ds, d in res["datasets"].items():
            for g, gd in d["groups"].items():
                groups.setdefault(g, {})[ds] = gd
    return groups


def at_steps(gd: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """A group entry's statistics at fixed update counts, by step."""
    return {int(a["step"]): a for a in gd.get("at_steps", [])}


def natural(label: str) -> list[Any]:
    """Sort key that orders the numbers inside a group label by value ("K=2" before
    "K=16", "beta=6.0" before "beta=20.0", "lr=3e-05" before "lr=0.0001", "x=-2" before
    "x=-1"); a minus sign counts only where no letter, digit or dot precedes it."""
    parts = re.split(r"((?:(?<![\w.])-)?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)", label)
    return [(0, float(p), "") if i % 2 else (1, 0.0, p) for i, p in enumerate(parts)]


def table(
    results: list[dict[str, Any]],
    steps: list[int] | None,
    datasets: list[str],
    only: list[str] | None = None,
    digits: int = 1,
) -> str:
    """Groups x (dataset, step) cells; ``only``: these groups, in this order."""
    groups = by_group(results)
    ds_list = datasets or sorted({ds for g in groups.values() for ds in g})
    cols: list[tuple[str, int | None]] = [
        (ds, s)
        for ds in ds_list
        for s in (steps if steps else [None])  # None: the last evaluation
    ]
    head = ["group"] + [
        f"{ds} @ {s / 1000:g}k" if s is not None and s % 100 == 0 else f"{ds} @ {s or 'last'}"
        for ds, s in cols
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for g in only or sorted(groups, key=natural):
        if g not in groups:
            continue
        row = [g]
        for ds, s in cols:
            gd = groups[g].get(ds)
            if gd is None:
                row.append("—")
            elif s is None:
                row.append(cell(gd.get("last"), digits))
            else:
                row.append(cell(at_steps(gd).get(s), digits))
        if any(c != "—" for c in row[1:]):  # a group with no finished evaluation yet: skip
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def target_table(
    results: list[dict[str, Any]],
    steps: list[int],
    datasets: list[str],
    reference: str,
    only: list[str] | None = None,
) -> str:
    """Each group's score averaged over the datasets (the mean of the per-dataset means over
    seeds) at each step, and its difference from the ``reference`` group's; a step where a
    group misses a dataset shows how many datasets it has. ``only``: these groups, in this
    order (the reference first where it is one of them)."""
    groups = {
        g: {ds: at_steps(gd) for ds, gd in per.items()} for g, per in by_group(results).items()
    }
    ds_list = datasets or sorted({ds for g in groups.values() for ds in g})

    def average(g: str, step: int) -> tuple[float | None, int, int]:
        cells = [groups[g].get(ds, {}).get(step) for ds in ds_list]
        have = [c for c in cells if c and c.get("mean") is not None]
        runs = sum(int(c.get("n", 0)) for c in have)
        if len(have) < len(ds_list):
            return None, len(have), runs
        return statistics.fmean(c["mean"] for c in have), len(have), runs

    def paired_se(g: str, step: int) -> float | None:
        """The standard error of ``g``'s difference from the reference: within each dataset
        the differences of the seeds both groups have (a dataset and seed is one file), their
        variance over those seeds / their number; summed over datasets, root, / datasets.
        None where a dataset has fewer than two such seeds."""
        total = 0.0
        for ds in ds_list:
            a, b = groups[g].get(ds, {}).get(step), groups[reference].get(ds, {}).get(step)
            if not a or not b:
                return None
            ref_by_seed = dict(zip(b.get("seeds", []), b.get("values", []), strict=False))
            diffs = [
                v - ref_by_seed[s]
                for s, v in zip(a.get("seeds", []), a.get("values", []), strict=False)
                if s in ref_by_seed
            ]
            if len(diffs) < 2:
                return None
            total += statistics.variance(diffs) / len(diffs)
        return math.sqrt(total) / len(ds_list)

    head = ["group"]
    for s in steps:
        head += [f"mean @ {s / 1000:g}k", f"vs {reference} @ {s / 1000:g}k"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    refs = {s: average(reference, s)[0] if reference in groups else None for s in steps}
    order = sorted(groups, key=lambda g: (g != reference, natural(g)))
    if only:
        order = sorted((g for g in only if g in groups), key=lambda g: g != reference)
    for g in order:
        row, seen = [g], False
        for s in steps:
            mean, n_ds, runs = average(g, s)
            ref = refs[s]
            if mean is None:
                row += [f"— ({n_ds}/{len(ds_list)} datasets)" if n_ds else "—", "—"]
                continue
            seen = True
            row.append(f"{mean:.1f} ({runs} runs)")
            if ref is None or g == reference:
                row.append("—")
            else:
                se = paired_se(g, s)
                row.append(f"{mean - ref:+.1f}" + ("" if se is None else f" ± {se:.1f}"))
        if seen or any(c.startswith("— (") for c in row[1:]):
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def comparison_table(
    runs_dir: str,
    speed: dict[str, Any] | None,
    speed_path: str,
    datasets: list[str],
    groups: list[str],
) -> str:
    """Algorithms side by side: the last evaluation's score per dataset (mean ± std over the
    finished runs' summaries), their budget, and actions/s at batch 1 (act_speed.py JSON)."""
    runs = [r for r in collect_runs(runs_dir) if r.finished and r.summary]
    scores: dict[tuple[str, str], list[tuple[int, float]]] = {}
    steps: dict[str, set[int]] = {}
    minutes: dict[str, list[float]] = {}
    episodes: set[int] = set()
    for r in runs:
        assert r.summary is not None
        last = r.summary.get("last") or {}
        if last.get("eval/score_mean") is not None:
            scores.setdefault((r.group, r.dataset), []).append((r.seed, last["eval/score_mean"]))
            episodes.add(int(last.get("eval/episodes", 0)))
        steps.setdefault(r.group, set()).add(int(r.summary.get("steps", 0)))
        if r.summary.get("train_seconds") is not None:
            minutes.setdefault(r.group, []).append(r.summary["train_seconds"] / 60)
    timings = (speed or {}).get("timings", [])
    ds_list = datasets or sorted({r.dataset for r in runs})
    rows = groups or sorted({r.group for r in runs} | {t["group"] for t in timings}, key=natural)
    head = ["algorithm", *ds_list, "updates", "train min/run", "acting", "actions/s at batch 1"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for g in rows:
        mine = [t for t in timings if t["group"] == g]
        aps = [t["actions_per_s"] for t in mine]
        row = [ALGO_NAMES.get(g, g.upper())]
        row += [cell(stat(scores[(g, ds)]) if (g, ds) in scores else None) for ds in ds_list]
        row.append(" / ".join(f"{s:,}" for s in sorted(steps.get(g, ()))) or "—")
        row.append(f"{statistics.fmean(minutes[g]):.0f}" if g in minutes else "—")
        row.append("; ".join(dict.fromkeys(t["acting"] for t in mine)) or "—")
        row.append(f"{rate(statistics.fmean(aps))} ({len(aps)})" if aps else "—")
        lines.append("| " + " | ".join(row) + " |")
    eps = " / ".join(str(e) for e in sorted(episodes)) or "?"
    sweep = Path("benchmarks/sweeps") / f"{benchmark_name(Path(runs_dir))}.yaml"
    made = f" (`genpolicy sweep {sweep} --report`)" if sweep.is_file() else ""
    text = (
        f"\n\n*Generated by `genpolicy tables` from the run summaries in `{runs_dir}`"
        f"{made} and `{speed_path}`. Scores: D4RL-normalised return of each run's last "
        f"evaluation (summary.json `last` eval/score_mean: the final checkpoint, {eps} "
        "episodes, acting with the run's own act settings and acting weights), mean ± std "
        "over seeds (number of seeds); — where no run finished. Each algorithm trains at its "
        "own CPU budget (updates; mean training minutes per finished run). "
    )
    if speed is None:
        return "\n".join(lines) + text + f"Actions/s: not measured (no `{speed_path}`).*"
    m = speed.get("meta", {})
    loads = sorted(t["load_average"][0] for t in timings if t.get("load_average"))
    load = f"{loads[0]:.1f}" if loads else "?"
    load += f"–{loads[-1]:.1f}" if loads and f"{loads[-1]:.1f}" != load else ""
    threads = "/".join(str(n) for n in sorted({t["torch_threads"] for t in timings})) or "?"
    text += (
        f"Actions/s: `{m.get('command', 'python benchmarks/act_speed.py ...')}`: the last "
        "checkpoint loaded as `genpolicy evaluate` loads it and acting as its evaluation does "
        "(column acting: sampler steps and solver, candidates per action, weights) on one "
        f"observation per call, {threads} torch thread, at least {m.get('seconds', '?')} s "
        "per run after a warm-up; mean over the algorithm's timed runs (number of runs). "
        f"Machine: {m.get('cpu', '?')}, {m.get('cpu_count', '?')} cores, torch "
        f"{m.get('torch', '?')}, 1-minute load average {load} at the start of the timings.*"
    )
    return "\n".join(lines) + text


def benchmark_name(path: Path) -> str:
    """The benchmark (sweep) a comparison's input belongs to: NAME of
    ``benchmarks/results/NAME/runs``, ``NAME/report/results.json``, ``NAME/report`` or
    ``NAME`` itself."""
    path = path.resolve()
    if path.is_file():
        path = path.parent
    if path.name == "runs" or path.name.startswith("report"):
        path = path.parent
    return path.name


def is_eval_folder(path: Path) -> bool:
    """A folder of ``genpolicy evaluate`` JSON outputs (not run folders, not a report)."""
    return (
        path.is_dir()
        and any(path.glob("*.json"))
        and not any(path.glob("*/summary.json"))
        and summary_file(path) is None
    )


def eval_table(folder: Path, target: str = "") -> str:
    """One row per group of ``genpolicy evaluate`` outputs: per-seed scores, mean ± std."""
    rows: dict[str, dict[int, dict[str, Any]]] = {}
    for f in sorted(folder.glob("*.json")):
        try:
            r = json.loads(f.read_text())
            score = float(r["score_mean"])
        except (ValueError, KeyError, TypeError):
            raise GenpolicyError(
                f"{f}: not a 'genpolicy evaluate' output (no score_mean); "
                "write it with: genpolicy evaluate RUN --episodes N > FILE.json"
            ) from None
        m = re.fullmatch(r"(.+)-s(\d+)", f.stem)
        group, seed = (m.group(1), int(m.group(2))) if m else (f.stem, 0)
        rows.setdefault(group, {})[seed] = {"score": score, "episodes": int(r["episodes"])}
    if not rows:
        raise GenpolicyError(f"{folder}: no genpolicy evaluate outputs (*.json)")
    if target and target not in rows:
        raise GenpolicyError(f"--target {target}: no such group in {folder} ({', '.join(rows)})")
    stats = {g: stat((k, d["score"]) for k, d in seeds.items()) for g, seeds in rows.items()}
    head = "| group | episodes | score per seed | mean ± std (seeds) |"
    head += f" % of {target} |" if target else ""
    lines = [head, "| --- " * (head.count("|") - 1) + "|"]
    for g, st in stats.items():
        per_seed = " / ".join(f"{x:.1f}" for x in st["values"])
        eps = sorted({d["episodes"] for d in rows[g].values()})
        line = f"| {g} | {'/'.join(map(str, eps))} | {per_seed} | {cell(dict(st))} |"
        if target:
            ref = stats[target]["mean"]
            line += f" {100 * st['mean'] / ref:.0f}% |" if ref else " — |"
        lines.append(line)
    return "\n".join(lines)


def update(path: Path, name: str, text: str | None) -> None:
    """Replace the ``name`` block of ``path`` with ``text`` (None: only check that it can)."""
    try:
        body = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or exc
        raise GenpolicyError(
            f"--update {path}: cannot read it ({why}); pass a Markdown file"
        ) from None
    start, end = f"<!-- results:{name} -->", f"<!-- /results:{name} -->"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if not pattern.search(body):
        raise GenpolicyError(f"{path}: no {start} ... {end} block to replace")
    if text is not None:
        path.write_text(pattern.sub(lambda _: f"{start}\n{text}\n{end}", body))


def comparison(args: argparse.Namespace) -> str:
    """The algorithm comparison of a folder of run folders or of the runs a results.json
    keeps (``--act-speed`` for speeds)."""
    if len(args.results) != 1:
        raise GenpolicyError(
            "the algorithm comparison takes one folder of run folders or one results.json"
        )
    speed = None
    if args.act_speed and Path(args.act_speed).is_file():
        speed = json.loads(Path(args.act_speed).read_text())
    elif args.act_speed:
        print(f"warning: no {args.act_speed}; actions/s left empty", file=sys.stderr)
    return comparison_table(
        args.results[0],
        speed,
        args.act_speed or "benchmarks/act_speed.py's JSON (--act-speed)",
        [d for d in args.datasets.split(",") if d],
        [g for g in args.groups.split(",") if g],
    )


def read_json(path: Path) -> Any:
    """The JSON in ``path``, or a one-line error naming the file."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise GenpolicyError(f"no such results file: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GenpolicyError(f"cannot read {path} as JSON ({exc})") from None


def steps_of(text: str) -> list[int] | None:
    """``--steps``: the update counts it lists (None when empty), or a one-line error."""
    try:
        steps = [int(s) for s in text.split(",") if s] or None
    except ValueError:
        raise GenpolicyError(
            f"--steps must list update counts, e.g. 5000,20000, got {text!r}"
        ) from None
    if steps and min(steps) < 1:
        raise GenpolicyError(f"--steps must be >= 1, got {text!r}")
    return steps


def table_text(args: argparse.Namespace) -> str:
    """The table (with its provenance line) for main()'s inputs, by their kind."""
    if is_eval_folder(Path(args.results[0])):
        return eval_table(Path(args.results[0]), args.target) + (
            f"\n\n*Generated by `genpolicy tables` from `{args.results[0]}` "
            "(`genpolicy evaluate RUN --episodes N` of each run's last checkpoint); seeds in "
            "order.*"
        )
    if Path(args.results[0]).is_dir() or args.act_speed:
        return comparison(args)
    results = [read_json(Path(p)) for p in args.results]
    for path, res in zip(args.results, results, strict=True):
        if not isinstance(res, dict):
            raise GenpolicyError(f"{path} holds no JSON object; give a results JSON")
    if "reference_agreement" in results[0]:  # benchmarks/loglik_time_grids.py
        sources = ", ".join(f"`{p}`" for p in args.results)
        return grid_table(results) + (
            f"\n\n*Generated by `genpolicy tables` from {sources}; cells: mean (max) "
            "|error| in nats per sample against a 1000-step reference, 256 dataset states.*"
        )
    if {"rows", "scales", "settings", "pairs", "ensemble"} & set(results[0]):  # the others'
        r0 = results[0]
        if "peer_side" in r0:  # a parity benchmark
            text = parity_table(r0, steps_of(args.steps))
            text += (
                f"\n\n*Generated by `genpolicy tables` from `{args.results[0]}`; cells: "
                "normalised score, mean ± std over seeds (seeds); the difference from the "
                "peer is paired by seed, ± its standard error.*"
            )
            return text
        if "machine" in r0 and "rows" in r0:  # genpolicy bench train
            text = train_speed_table(r0)
        elif "ensemble" in r0:
            text = ensemble_table(r0)
        elif "pairs" in r0:
            text = pg_phase_table(r0)
        elif "rows" in r0:
            text = speed_table(r0)
        elif "scales" in r0:
            text = noise_table(r0)
        else:
            text = memory_table(r0)
        text += f"\n\n*Generated by `genpolicy tables` from `{args.results[0]}`.*"
        return text
    for path, res in zip(args.results, results, strict=True):
        if "datasets" not in res:
            raise GenpolicyError(
                f"{path} is neither a genpolicy report's results.json nor a benchmark JSON "
                "that genpolicy tables renders; give a report's results.json (genpolicy "
                "report RUNS --out DIR writes DIR/results.json)"
            )
    steps = steps_of(args.steps)
    if args.digits < 0:
        raise GenpolicyError(f"--digits must be >= 0, got {args.digits}")
    datasets = [d for d in args.datasets.split(",") if d]
    only = [g for g in args.groups.split(",") if g] or None
    groups = by_group(results)
    have = {
        "--groups": sorted(groups),
        "--datasets": sorted({d for g in groups.values() for d in g}),
    }
    for flag, asked in (("--groups", only), ("--datasets", datasets)):
        if asked and not set(asked) & set(have[flag]):  # a typo: the table would be empty
            raise GenpolicyError(
                f"{flag} {','.join(asked)}: none of them is in the results; they have: "
                f"{', '.join(have[flag])}"
            )
    sources = ", ".join(f"`{p}`" for p in args.results)
    if args.target:
        if not steps:
            raise GenpolicyError("--target needs --steps, e.g. --steps 20000,50000")
        text = target_table(results, steps, datasets, args.target, only)
        text += (
            f"\n\n*Generated by `genpolicy tables --target {args.target}` from "
            f"{sources}; cells: the mean over the datasets of each dataset's mean over seeds "
            f"(finished evaluations at that step), and its difference from {args.target}'s "
            "± that difference's standard error over seeds (within a dataset, each seed's "
            "difference between the two groups: a dataset and seed share one file).*"
        )
    else:
        text = table(results, steps, datasets, only, args.digits)
        text += f"\n\n*Generated by `genpolicy tables` from {sources}; cells: mean ± std (seeds).*"
    return text
