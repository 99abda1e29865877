"""Deterministic against stochastic acting, from the same checkpoints (no retraining).

For every finished run folder of a generative policy under the given roots, the final
checkpoint is evaluated with the run's own evaluation seed and episode count, once per
acting setting: ``act.noise_scale`` 1 (sample the policy: this must reproduce the run's
last evaluation) and 0 (start the ODE / flow map at the prior's mean: one deterministic
action per state), and with ``--candidates N`` also N sampled candidates ranked by the
run's critic (noise scale 1; key ``c<N>``). Success rates are recorded where the
environment reports them (mazes).

    python benchmarks/eval_noise_scale.py benchmarks/results/noisy-expert/runs \
        benchmarks/results/levers-gmpo/runs --out benchmarks/results/eval_noise_scale.json
    python benchmarks/eval_noise_scale.py benchmarks/results/pointmaze-medium/runs \
        --candidates 16 --out benchmarks/results/eval_pointmaze_acting.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
from pathlib import Path
from typing import Any

import torch

from genpolicy.envs.evaluate import evaluate
from genpolicy.experiments.jsonio import compact_json
from genpolicy.training.checkpoint import load_algorithm


def csv_of(kind: type) -> Any:
    """An argparse type for a comma-separated list of ``kind`` (a bad item: one usage line)."""

    def parse(text: str) -> list[Any]:
        try:
            return [kind(x) for x in text.split(",") if x.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated {kind.__name__}s, got {text!r}"
            ) from None

    return parse


def run_folders(roots: list[str]) -> list[Path]:
    out = []
    for root in roots:
        for summary in sorted(Path(root).glob("*/summary.json")):
            out.append(summary.parent)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("roots", nargs="+", help="folders holding run folders")
    ap.add_argument("--scales", type=csv_of(float), default="1,0")
    ap.add_argument("--candidates", type=int, default=0, help="also N candidates by Q (0: no)")
    ap.add_argument(
        "--steps",
        type=csv_of(int),
        default="",
        help="comma-separated ODE step counts / flow-map jumps: each scale again at K steps "
        "(key '<scale>k<K>'; an ODE model takes Euler steps)",
    )
    ap.add_argument("--only", default="", help="comma-separated run names to evaluate")
    ap.add_argument(
        "--merge",
        action="store_true",
        help="keep the --out file's rows of runs not evaluated now (same settings)",
    )
    ap.add_argument("--out", default="benchmarks/results/eval_noise_scale.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    scales: list[float] = args.scales
    # (key, noise scale, candidates, steps: None keeps the run's own)
    settings: list[tuple[str, float, int, int | None]] = [(f"{s:g}", s, 1, None) for s in scales]
    for k in args.steps:
        settings += [(f"{s:g}k{k}", s, 1, k) for s in scales]
    if args.candidates > 1:
        settings.append((f"c{args.candidates}", 1.0, args.candidates, None))
    only = set(filter(None, args.only.split(",")))
    rows: list[dict[str, Any]] = []
    for run in run_folders(args.roots):
        if only and run.name not in only:
            continue
        if not (run / "checkpoints").is_dir():
            continue  # committed without checkpoints: nothing to evaluate here
        algo, cfg, ckpt = load_algorithm(run)
        act = getattr(cfg.algo, "act", None)
        if act is None or getattr(cfg.algo, "policy", "generative") != "generative":
            continue
        summary = json.loads((run / "summary.json").read_text())
        trial = (
            json.loads((run / "trial.json").read_text()) if (run / "trial.json").is_file() else {}
        )
        row: dict[str, Any] = {
            "run": str(run),
            "group": trial.get("group", cfg.algo.name),
            "dataset": trial.get("dataset", cfg.data.dataset),
            "seed": cfg.train.seed,
            "step": ckpt["step"],
            "logged_last": (summary.get("last") or {}).get("eval/score_mean"),
        }
        for key, scale, candidates, steps in settings:
            if candidates > 1 and not getattr(algo, "critic", None):
                continue  # nothing to rank candidates by (BC)
            changes: dict[str, Any] = {"noise_scale": scale, "candidates": candidates}
            if steps is not None:
                changes["steps"] = steps
                if cfg.model.kind != "flowmap":  # ODE models: plain Euler steps
                    changes["solver"] = "euler"
            algo.cfg.act = dataclasses.replace(act, **changes)
            algo.seed_acting(cfg.train.eval_seed)
            res = evaluate(
                algo.act,
                ckpt["env_id"],
                cfg.train.eval_episodes,
                cfg.train.eval_seed,
                ckpt.get("dataset") or ckpt["env_id"],
            )
            row[f"score@{key}"] = res.score_mean
            if res.success_rate is not None:
                row[f"success@{key}"] = res.success_rate
        rows.append(row)
    if args.merge and Path(args.out).is_file():
        done = {r["run"] for r in rows}
        kept = json.loads(Path(args.out).read_text())["runs"]
        rows = sorted([r for r in kept if r["run"] not in done] + rows, key=lambda r: r["run"])
    groups: dict[tuple[str, str], dict[str, list[float]]] = {}
    for r in rows:
        g = groups.setdefault((r["dataset"], r["group"]), {})
        for k in r:
            if k.startswith(("score@", "success@")):
                g.setdefault(k, []).append(r[k])
    table = [
        {
            "dataset": ds,
            "group": grp,
            "seeds": len(v[f"score@{settings[0][0]}"]),
            **{k: statistics.fmean(x) for k, x in v.items()},
        }
        for (ds, grp), v in sorted(groups.items())
    ]
    Path(args.out).write_text(
        compact_json({"scales": scales, "settings": settings, "runs": rows, "groups": table})
    )
    names = [k for k, *_ in settings]
    print("| dataset | group | seeds | " + " | ".join(names) + " |")
    print("|" + " --- |" * (3 + len(names)))
    for t in table:
        cells = " | ".join(
            f"{t[f'score@{k}']:.1f}"
            + (f" ({t[f'success@{k}']:.2f})" if f"success@{k}" in t else "")
            if f"score@{k}" in t
            else "—"
            for k in names
        )
        print(f"| {t['dataset']} | {t['group']} | {t['seeds']} | {cells} |")


if __name__ == "__main__":
    main()
