"""Tables of the benchmark scripts' own JSON outputs (speed, memory, noise scale, the GMPG
phase, log-likelihood grids, critic ensembles): one renderer per kind of file."""

from __future__ import annotations

import statistics
from typing import Any

from genpolicy.errors import GenpolicyError


def rate(x: float | None) -> str:
    """A speed: thousands separators from 100 on, three significant digits below."""
    if x is None:
        return "—"
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


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
            pretrain = f" (pretraining {p:.3g})" if x is not None and p is not None else ""
            return rate(x) + pretrain

        lines.append(
            f"| {name} | {f(ups[0], pre[0])} | {f(ups[1], pre[1])} | "
            f"{f(act[0], None)} | {f(act[1], None)} |"
        )
    return "\n".join(lines)


def ensemble_table(result: dict[str, Any]) -> str:
    """The table of benchmarks/ensemble_speed.py's JSON (ms per training step)."""
    lines = [
        "| members | batch | genpolicy (member by member) | one batched matmul per layer "
        "| separate nn.Sequential MLPs | batched / genpolicy |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in result["ensemble"]:
        ms = r["ms_per_step"]
        lines.append(
            f"| {r['members']} | {r['batch']:,} | {ms['genpolicy']:.2f} ms | "
            f"{ms['batched_matmul']:.2f} ms | {ms['separate_mlps']:.2f} ms | "
            f"{r['speedup_vs_batched_matmul']:.2f}x |"
        )
    note = (
        f"*`{result['command']}`, torch {result['torch']}, {result['threads']} thread, "
        f"load average {result['load_average']}; median of the rounds.*"
    )
    return "\n".join(lines) + "\n\n" + note


def memory_table(result: dict[str, Any]) -> str:
    """The table of benchmarks/gmpg_memory.py's JSON (one policy-gradient step)."""
    lines = [
        "| policy batch | micro-batch | checkpointing | peak memory (MB) | CPU s |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in result["settings"]:
        micro = r["policy_microbatch"]
        if micro == -1:  # the config's own setting, as run
            micro = f"{r.get('policy_microbatch_used', '?')} (default)"
        head = f"| {r['policy_batch']} | {micro or '—'} | {'on' if r['grad_checkpoint'] else 'off'}"
        if r.get("status") != "ok":
            lines.append(f"{head} | skipped | — |")
            continue
        lines.append(f"{head} | {r['peak_mb']:,.0f} | {r['cpu_s']:.1f} |")
    for tag, e in result.get("published_batch", {}).items():
        if e["measured_at_batch"] == 40_960:
            continue  # the published batch itself was measured: its row is above
        lines.append(
            f"| 40,960 (extrapolated: {e['cpu_s_per_microbatch']:.2f} CPU s per 256 x 160, "
            f"measured at {e['measured_at_batch']}) | 256 | "
            f"{'on' if tag == 'checkpoint' else 'off'} | — | {e['cpu_s_at_40960']:,.0f} |"
        )
    return "\n".join(lines)


def setting_name(key: str) -> str:
    """A column name for an eval_noise_scale.py setting key: 'c16' (candidates by Q), '0'
    (noise scale, the run's own steps) or '0k1' (noise scale at K steps)."""
    if key.startswith("c"):
        return f"{int(key[1:])} candidates by Q"
    scale, _, steps = key.partition("k")
    return f"noise {scale}" + (f", {steps} step{'s' if steps != '1' else ''}" if steps else "")


def noise_table(result: dict[str, Any]) -> str:
    """The table of benchmarks/eval_noise_scale.py's JSON (mean over seeds; the success rate
    in brackets where the environment reports one)."""
    keys = [s[0] for s in result["settings"]] if "settings" in result else None
    keys = keys or [f"{s:g}" for s in result["scales"]]
    names = [setting_name(k) for k in keys]
    head = ["dataset", "group", "seeds", *names]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for g in result["groups"]:
        cells = [
            (f"{g[f'score@{k}']:.1f}" if f"score@{k}" in g else "—")
            + (f" ({g[f'success@{k}']:.2f})" if f"success@{k}" in g else "")
            for k in keys
        ]
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


def grid_table(results: list[dict[str, Any]]) -> str:
    """benchmarks/loglik_time_grids.py's JSONs side by side: mean (max) |error| in nats per
    time grid and step count, one column per model."""
    cols = [f"{r['model_config']['path']} path" for r in results]
    head = ["time grid", "RK4 steps", *cols]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    keys: list[tuple[str, int]] = []
    for r in results:
        keys += [(x["grid"], x["steps"]) for x in r["rows"] if (x["grid"], x["steps"]) not in keys]
    for grid, steps in keys:
        cells = []
        for r in results:
            hit = [x for x in r["rows"] if (x["grid"], x["steps"]) == (grid, steps)]
            x = hit[0] if hit else None
            cells.append(
                f"{x['mean_abs_error_nats']:.3f} ({x['max_abs_error_nats']:.2f})" if x else "—"
            )
        lines.append(f"| {grid} | {steps} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def train_speed_table(result: dict[str, Any]) -> str:
    """The table of ``genpolicy bench train``'s JSON: updates/s per algorithm and batch,
    eager and each compile mode, with the ratio to eager; then, if the file has population
    rows, member-updates/s per population size and mode against one eager run."""
    rows = [r for r in result["rows"] if r.get("population", 1) == 1]
    modes = list(dict.fromkeys(r["mode"] for r in rows))
    compiled = [m for m in modes if m != "eager"]
    head = ["algorithm", "batch", *(f"{m} updates/s" for m in modes)]
    head += [f"{m} / eager" for m in compiled]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    cells: dict[tuple[str, int], dict[str, dict[str, Any]]] = {}
    for r in rows:
        cells.setdefault((r["algo"], r["batch"]), {})[r["mode"]] = r
    for (algo, batch), by_mode in cells.items():
        ups = {m: by_mode[m]["updates_per_s"] if m in by_mode else None for m in modes}
        eager = ups.get("eager")
        ratios = []
        for m in compiled:
            x = ups[m]
            note = " (eager phase)" if m in by_mode and by_mode[m].get("eager_phase") else ""
            ratios.append(f"{x / eager:.2f}x{note}" if x is not None and eager else "—")
        cells_ = [algo, str(batch), *(rate(ups[m]) for m in modes), *ratios]
        lines.append("| " + " | ".join(cells_) + " |")
    pops = [r for r in result["rows"] if r.get("population", 1) > 1]
    if pops:
        lines += [
            "",
            "| algorithm | batch | population | mode | member-updates/s | / one eager run |",
        ]
        lines.append("|" + " --- |" * 6)
        for r in pops:
            one = cells.get((r["algo"], r["batch"]), {}).get("eager")
            x = r["member_updates_per_s"]
            ratio = f"{x / one['updates_per_s']:.2f}x" if one else "—"
            lines.append(
                f"| {r['algo']} | {r['batch']} | {r['population']} | {r['mode']} | {rate(x)} "
                f"| {ratio} |"
            )
    m = result["machine"]
    load = m.get("load_average")
    note = f"; load average {load[0]:g} when it started" if load else ""
    lines.append("")
    lines.append(
        f"{m['device_name']} ({m['device']}), torch {m['torch']}, {m['threads']} thread(s){note}."
    )
    return "\n".join(lines)


def parity_table(result: dict[str, Any], steps: list[int] | None = None) -> str:
    """The table of a parity benchmark's JSON: each side's normalised score at each
    evaluation (or at ``steps`` only; mean ± std over seeds, the seed count in brackets), its
    training rate, and each genpolicy side's difference from the peer at the last of them and
    averaged over all of them (one evaluation is noisy), paired by seed (mean ± standard error
    over the seeds both sides have).

    ``result``: ``peer_side`` (the peer's side name), ``rows`` (``side``, ``seed``,
    ``updates``, ``score_mean``: one evaluation's mean over its episodes) and
    ``updates_per_s`` (side -> mean over its runs)."""
    peer = result["peer_side"]
    sides = [peer] + sorted({r["side"] for r in result["rows"]} - {peer})
    have = sorted({r["updates"] for r in result["rows"]})
    if steps and not set(steps) <= set(have):
        missing = ", ".join(str(u) for u in sorted(set(steps) - set(have)))
        raise GenpolicyError(
            f"--steps {missing}: no evaluation there; the results have "
            + ", ".join(str(u) for u in have)
        )
    steps = sorted(steps) if steps else have
    score = {(r["side"], r["seed"], r["updates"]): r["score_mean"] for r in result["rows"]}
    speed = result.get("updates_per_s", {})

    def cell(side: str, step: int) -> str:
        xs = [v for (s, _, u), v in score.items() if s == side and u == step]
        if not xs:
            return "—"
        sd = f" ± {statistics.stdev(xs):.1f}" if len(xs) > 1 else ""
        return f"{statistics.fmean(xs):.1f}{sd} ({len(xs)})"

    def diff(side: str, at: list[int]) -> str:
        """The paired difference from the peer of each seed's mean over the steps ``at``
        (over the seeds both sides evaluated at every one of them)."""
        seeds = [
            k
            for k in sorted({k[1] for k in score if k[0] == side})
            if all((side, k, u) in score and (peer, k, u) in score for u in at)
        ]
        ds = [statistics.fmean(score[side, k, u] - score[peer, k, u] for u in at) for k in seeds]
        if side == peer or not ds:
            return "—"
        se = f" ± {statistics.stdev(ds) / len(ds) ** 0.5:.1f}" if len(ds) > 1 else ""
        return f"{statistics.fmean(ds):+.1f}{se} ({len(ds)})"

    head = " | ".join(f"{u // 1000}k" if u % 1000 == 0 else str(u) for u in steps)
    every = " | − peer, averaged over the columns" if len(steps) > 1 else ""
    lines = [
        f"| side | {head} | − peer at {steps[-1] // 1000}k{every} | updates/s |",
        "| --- |" + " --- |" * (len(steps) + 2 + (len(steps) > 1)),
    ]
    for side in sides:
        cells = " | ".join(cell(side, u) for u in steps)
        d = diff(side, steps[-1:]) + (f" | {diff(side, steps)}" if len(steps) > 1 else "")
        lines.append(f"| {side} | {cells} | {d} | {rate(speed.get(side))} |")
    return "\n".join(lines)
