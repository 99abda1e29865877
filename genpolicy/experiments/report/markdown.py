"""Writing a report: ``report.md`` and ``results.csv`` rendered from ``summarise``'s dict."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from genpolicy.experiments.report.runs import TOY_DATASET, Stat
from genpolicy.experiments.report.stats import stat


def _f(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _cell(st: Stat | None, digits: int = 1) -> str:
    if not st or not st["n"]:
        return "—"
    if st["std"] is None:
        return f"{_f(st['mean'], digits)} (n=1)"
    return f"{_f(st['mean'], digits)} ± {_f(st['std'], digits)}"


def _steps(n: int) -> str:
    for div, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= div and n % (div // 10) == 0:
            return f"{n / div:g}{suffix}"
    return str(n)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return lines + [""]


def render_markdown(results: dict[str, Any], title: str | None = None) -> str:
    """report.md from the results dict (no number is typed in by hand)."""
    m = results["meta"]
    root = m["root"]
    lines = [
        f"# {title or 'genpolicy report'}",
        "",
        f"Made by `genpolicy report` on {m['created']} (genpolicy {m['genpolicy_version']}) "
        f"from the {m['runs']} run folders under `{root}`: {m['finished']} finished, "
        f"{m['unfinished']} unfinished (no summary.json), {m['interrupted']} interrupted. "
        f"Metric: `{m['metric']}`. All numbers are in `results.json` / `results.csv`.",
        "",
        "How the numbers are made: a group is one configuration on one dataset; its seeds are "
        "the replicates. **last** is each run's final evaluation, **best** its best "
        "evaluation; a cell is the mean ± the sample standard deviation over seeds "
        "(n - 1 denominator), or the mean and (n=1) for a single seed. Unfinished and "
        "interrupted runs are drawn in the curves but left out of every table. "
        "`<group> K=<K>` is the same checkpoints evaluated with K sampler steps, "
        "`<group> N=<N>` with the best of N sampled actions by the critic's Q. "
        "Curves: the line is the mean over seeds at each evaluation, the band spans the "
        "minimum to the maximum over seeds (steps that only some runs evaluated are skipped). "
        f"{TOY_DATASET} is left out of the average over datasets.",
        "",
    ]
    for ds, d in results["datasets"].items():
        lines += [f"## {ds}", ""]
        if d.get("plot"):
            lines += [
                f"![learning curves on {ds}]({d['plot']})",
                "",
                f"*{d['metric']} against updates on {ds}: mean over seeds (line) and "
                "min..max over seeds (band); the legend counts seeds.*",
                "",
            ]
        if d["fallback"]:
            lines += [f"`{m['metric']}` is null in every run here: `{d['metric']}` is shown.", ""]
        if d["left_out"]:
            lines += [
                f"{d['left_out']} run(s) left out of the tables (unfinished or interrupted).",
                "",
            ]
        if len(d.get("files", {})) > 1:
            counts = ", ".join(f"`{fp}` {n}" for fp, n in d["files"].items())
            lines += [
                f"**These runs were trained on {len(d['files'])} different files of {ds}** "
                f"(dataset fingerprint: runs; {counts}): a cell's seeds mix data draws. "
                "The Runs list at the end says which run used which file.",
                "",
            ]
        rows = [
            [label, str(g["last"]["n"]), _cell(g["last"]), _cell(g["best"]), _steps_or(g)]
            for label, g in d["groups"].items()
        ]
        lines += [f"### Last and best ({d['metric']})", ""]
        lines += _table(["group", "seeds", "last", "best", "final update"], rows)
        cols = d["step_columns"]
        if cols:
            lines += [
                f"### {d['metric']} at fixed update counts",
                "",
                "Evaluation steps shared by every finished run of the group; "
                "— where the group's runs do not all have that step.",
                "",
            ]
            rows = []
            for label, g in d["groups"].items():
                at = {a["step"]: a for a in g["at_steps"]}
                rows.append([label, str(g["last"]["n"])] + [_cell(at.get(c)) for c in cols])
            lines += _table(["group", "seeds"] + [_steps(c) for c in cols], rows)
    avg = results["average"]
    if avg["groups"] or avg["omitted"]:
        lines += [
            "## Average over datasets",
            "",
            f"`{avg['metric']}` averaged over {', '.join(avg['datasets'])} for each seed, then "
            "mean ± sample std over the seeds present in every dataset.",
            "",
        ]
        rows = [
            [label, str(g["last"]["n"]), _cell(g["last"]), _cell(g["best"])]
            for label, g in avg["groups"].items()
        ]
        lines += _table(["group", "seeds", "last", "best"], rows)
        for label, why in avg["omitted"].items():
            lines += [f"- {label} omitted: {why}"]
        if avg["omitted"]:
            lines += [""]
    lines += [
        "## Training speed",
        "",
        "Updates per second (summary.json, else the mean of the logged rates) and training "
        "seconds (finished runs), mean ± std over runs.",
        "",
    ]
    rows = []
    for ds, d in results["datasets"].items():
        for label, g in d["groups"].items():
            if "speed" in g:
                sp = g["speed"]
                rows.append(
                    [
                        ds,
                        label,
                        str(sp["steps_per_s"]["n"]),
                        _cell(sp["steps_per_s"]),
                        _cell(sp["train_seconds"], 0),
                    ]
                )
    lines += _table(["dataset", "group", "runs", "updates/s", "train seconds"], rows)
    act = results.get("actions") or {}
    if act:
        lines += [
            "## Toy bandit: sampled actions",
            "",
            f"Actions of each group's first seed for {act['states']} behaviour states "
            f"(seed {act['state_seed']}), over the behaviour actions (grey). Colour: which "
            "mode rewards the state. Fractions: actions within reach of the rewarding mode, "
            "of the behaviour's favourite mode 0, and of no mode.",
            "",
        ]
        if act.get("png"):
            lines += [f"![toy-bandit actions]({act['png']})", ""]
        b = act["behaviour"]
        rows = [["behaviour data", "—", _f(b["best"], 2), _f(b["mode0"], 2), _f(b["none"], 2)]]
        notes = []
        for group, g in act["groups"].items():
            if "skipped" in g:
                notes.append(f"- {group}: skipped ({g['skipped']})")
            else:
                rows.append(
                    [group, str(g["seed"]), _f(g["best"], 2), _f(g["mode0"], 2), _f(g["none"], 2)]
                )
        lines += _table(["", "seed", "best mode", "mode 0", "no mode"], rows)
        lines += notes + ([""] if notes else [])
    lines += ["## Runs", "", "<details><summary>every run folder</summary>", ""]
    rows = [
        [
            r["name"],
            r["dataset"],
            r["group"],
            str(r["seed"]),
            r["status"],
            str(r["evaluations"]),
            "—" if r["last_step"] is None else str(r["last_step"]),
            r.get("dataset_fingerprint") or "—",
        ]
        for r in results["runs"]
    ]
    header = ["run", "dataset", "group", "seed", "status", "evaluations", "last step", "data"]
    lines += _table(header, rows)
    lines += ["</details>", ""]
    return "\n".join(lines)


def _steps_or(g: dict[str, Any]) -> str:
    return "—" if g["final_step"] is None else str(g["final_step"])


def write_csv(results: dict[str, Any], path: Path) -> None:
    """One row per table cell: table, dataset, group, key, mean, std, n, seeds."""
    fields = ["table", "dataset", "group", "key", "metric", "mean", "std", "n", "seeds"]
    rows: list[dict[str, Any]] = []

    def add(table: str, ds: str, group: str, key: Any, metric: str, st: Stat) -> None:
        seeds = " ".join(str(s) for s in st["seeds"])
        values = [table, ds, group, key, metric, st["mean"], st["std"], st["n"], seeds]
        rows.append(dict(zip(fields, values, strict=True)))

    for ds, d in results["datasets"].items():
        for label, g in d["groups"].items():
            add("last", ds, label, "last", d["metric"], g["last"])
            add("best", ds, label, "best", d["metric"], g["best"])
            for a in g["at_steps"]:
                add("at_step", ds, label, a["step"], d["metric"], a)
            for key, st in g.get("speed", {}).items():
                add("speed", ds, label, key, key, st)
    avg = results["average"]
    for label, g in avg["groups"].items():
        for which in ("last", "best"):
            add("average", "+".join(avg["datasets"]), label, which, avg["metric"], g[which])
    for group, g in (results.get("actions") or {}).get("groups", {}).items():
        for key in ("best", "mode0", "mode1", "mode2", "none"):
            if key in g:
                add("actions", TOY_DATASET, group, key, "fraction", stat([(g["seed"], g[key])]))
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
