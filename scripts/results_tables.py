"""Markdown tables for README/docs, generated from `genpolicy report` results (never typed).

    python scripts/results_tables.py benchmarks/results/levers-gmpo/report/results.json \
        benchmarks/results/levers-reference/report/results.json --steps 5000,10000,20000
    python scripts/results_tables.py ... --name levers --update README.md docs/learning.md

Rows are groups (one configuration, all its seeds), columns are datasets x update counts:
mean +- sample std over seeds, with the number of seeds. With ``--update FILE`` the table
replaces the text between ``<!-- results:NAME -->`` and ``<!-- /results:NAME -->`` in FILE.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any


def cell(st: dict[str, Any] | None) -> str:
    if not st or st.get("mean") is None:
        return "—"
    n = int(st.get("n", 0))
    if n >= 2 and st.get("std") is not None:
        return f"{st['mean']:.1f} ± {st['std']:.1f} ({n})"
    return f"{st['mean']:.1f} ({n})"


def table(results: list[dict[str, Any]], steps: list[int] | None, datasets: list[str]) -> str:
    groups: dict[str, dict[str, dict[str, Any]]] = {}
    for res in results:
        for ds, d in res["datasets"].items():
            for g, gd in d["groups"].items():
                groups.setdefault(g, {})[ds] = gd
    ds_list = datasets or sorted({ds for g in groups.values() for ds in g})
    cols: list[tuple[str, int | None]] = [
        (ds, s)
        for ds in ds_list
        for s in (steps or [None])  # None: the last evaluation
    ]
    head = ["group"] + [
        f"{ds} @ {s // 1000}k" if s is not None and s % 1000 == 0 else f"{ds} @ {s or 'last'}"
        for ds, s in cols
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for g in sorted(groups):
        row = [g]
        for ds, s in cols:
            gd = groups[g].get(ds)
            if gd is None:
                row.append("—")
            elif s is None:
                row.append(cell(gd.get("last")))
            else:
                at = {int(a["step"]): a for a in gd.get("at_steps", [])}
                row.append(cell(at.get(s)))
        if any(c != "—" for c in row[1:]):  # a group with no finished evaluation yet: skip
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def speed_table(result: dict[str, Any]) -> str:
    """The table of benchmarks/speed_before_after.py's JSON."""
    lines = [
        "| algorithm | updates/s before | updates/s after | actions/s before | actions/s after |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, r in result["rows"].items():
        ups = [r.get(f"{t}/steps_per_s") for t in ("before", "after")]
        pre = [r.get(f"{t}/pretrain_steps_per_s") for t in ("before", "after")]
        act = [r.get(f"{t}/actions_per_s") for t in ("before", "after")]

        def f(x: float | None, p: float | None) -> str:
            if x is None:
                return "—"
            v = f"{x:,.0f}" if x >= 100 else f"{x:.3g}"
            return v + (f" (pretraining {p:.3g})" if p is not None else "")

        lines.append(
            f"| {name} | {f(ups[0], pre[0])} | {f(ups[1], pre[1])} | "
            f"{f(act[0], None)} | {f(act[1], None)} |"
        )
    return "\n".join(lines)


def memory_table(result: dict[str, Any]) -> str:
    """The table of benchmarks/gmpg_memory.py's JSON (one policy-gradient step)."""
    lines = [
        "| policy batch | micro-batch | checkpointing | peak memory (MB) | CPU s |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in result["settings"]:
        if r.get("status") != "ok":
            lines.append(
                f"| {r['policy_batch']} | {r['policy_microbatch'] or '—'} | "
                f"{'on' if r['grad_checkpoint'] else 'off'} | skipped | — |"
            )
            continue
        lines.append(
            f"| {r['policy_batch']} | {r['policy_microbatch'] or '—'} | "
            f"{'on' if r['grad_checkpoint'] else 'off'} | {r['peak_mb']:,.0f} | {r['cpu_s']:.1f} |"
        )
    for tag, e in result.get("published_batch", {}).items():
        lines.append(
            f"| 40,960 (extrapolated: {e['cpu_s_per_microbatch']:.2f} CPU s per 256 x 160, "
            f"measured at {e['measured_at_batch']}) | 256 | "
            f"{'on' if tag == 'checkpoint' else 'off'} | — | {e['cpu_s_at_40960']:,.0f} |"
        )
    return "\n".join(lines)


def noise_table(result: dict[str, Any]) -> str:
    """The table of benchmarks/eval_noise_scale.py's JSON (mean over seeds)."""
    scales = result["scales"]
    head = ["dataset", "group", "seeds"] + [f"noise {s:g}" for s in scales]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for g in result["groups"]:
        cells = [f"{g[f'score@{s:g}']:.1f}" for s in scales]
        lines.append(
            f"| {g['dataset']} | {g['group']} | {g['seeds']} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines)


def pg_phase_table(result: dict[str, Any]) -> str:
    """The table of benchmarks/gmpg_pg_phase.py's JSON (behaviour model vs after the phase)."""
    head = "| dataset | variant | seeds | before (mu) | after | change | seeds raised |"
    lines = [head, "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in result["summary"]:
        spread = f" ± {r['delta_std']:.1f}" if r["delta_std"] is not None else ""
        lines.append(
            f"| {r['dataset']} | {r['variant']} | {r['seeds']} | {r['before']:.1f} | "
            f"{r['after']:.1f} | {r['delta']:+.1f}{spread} | {r['raised']}/{r['seeds']} |"
        )
    return "\n".join(lines)


def update(path: Path, name: str, text: str) -> None:
    body = path.read_text()
    start, end = f"<!-- results:{name} -->", f"<!-- /results:{name} -->"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if not pattern.search(body):
        raise SystemExit(f"{path}: no {start} ... {end} block to replace")
    path.write_text(pattern.sub(lambda _: f"{start}\n{text}\n{end}", body))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+", help="results.json files written by genpolicy report")
    ap.add_argument(
        "--steps", default="", help="update counts, e.g. 5000,10000,20000 (default: last)"
    )
    ap.add_argument("--datasets", default="", help="comma-separated datasets (default: all)")
    ap.add_argument("--name", default="", help="block name for --update")
    ap.add_argument("--update", nargs="*", default=[], help="files whose block to replace")
    args = ap.parse_args()
    results = [json.loads(Path(p).read_text()) for p in args.results]
    if {"rows", "scales", "settings", "pairs"} & set(results[0]):  # the other benchmarks'
        r0 = results[0]
        if "pairs" in r0:
            text = pg_phase_table(r0)
        elif "rows" in r0:
            text = speed_table(r0)
        elif "scales" in r0:
            text = noise_table(r0)
        else:
            text = memory_table(r0)
        text += f"\n\n*Generated by `scripts/results_tables.py` from `{args.results[0]}`.*"
        for f in args.update:
            update(Path(f), args.name, text)
        print(text)
        return
    steps = [int(s) for s in args.steps.split(",") if s] or None
    datasets = [d for d in args.datasets.split(",") if d]
    text = table(results, steps, datasets)
    sources = ", ".join(f"`{p}`" for p in args.results)
    text += (
        f"\n\n*Generated by `scripts/results_tables.py` from {sources}; cells: mean ± std (seeds).*"
    )
    if args.update:
        if not args.name:
            raise SystemExit("--update needs --name")
        for f in args.update:
            update(Path(f), args.name, text)
    print(text)


if __name__ == "__main__":
    main()
