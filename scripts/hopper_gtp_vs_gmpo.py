"""GTP at K = 1, 2, 5 flow-map jumps vs GMPO (32-step Euler) on Hopper, over seeds.

For every seed: train GTP once (gtp/hopper-medium) and evaluate the SAME
checkpoint with K = 1, 2 and 5 jumps (K is chosen at evaluation time, no retraining);
train GMPO (published/gmpo/vp/hopper-medium) and evaluate it with its 32-step Euler
sampler. Both train for the same number of update steps with their own published batch
sizes (GTP 256, GMPO 4096) unless --set overrides them. Each finished (method, seed)
writes <out>/results.jsonl; a rerun skips finished ones, so seeds or methods can run in
separate processes (``--methods gtp --seeds 1``) and the table is rebuilt from whatever
is there (``--table``). Output: <out>/table.md with D4RL-normalised scores (mean +- std
over seeds, per-seed values) and actions/s at batch 1.

    python scripts/hopper_gtp_vs_gmpo.py --steps 100000                # the comparison
    python scripts/hopper_gtp_vs_gmpo.py --steps 20 --episodes 2 \
        --dataset datasets/hopper-expert-v5.hdf5 --out runs/gtp_smoke       # a smoke test
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from genpolicy.envs.evaluate import evaluate
from genpolicy.generative.models import model_class
from genpolicy.training.checkpoint import load_algorithm
from genpolicy.training.config import load
from genpolicy.training.trainer import fit

CONFIGS = {"gtp": "gtp/hopper-medium", "gmpo": "published/gmpo/vp/hopper-medium"}


def actions_per_s(algo: Any, obs: Any, seconds: float = 1.0) -> float:
    for _ in range(5):
        algo.act(obs)
    n, t0 = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds or n < 10:
        algo.act(obs)
        n += 1
    return n / elapsed


def run_one(method: str, seed: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    over = [
        f"data.dataset={args.dataset}",
        f"train.steps={args.steps}",
        f"train.seed={seed}",
        f"train.out_dir={args.out}",
        f"train.run_name={method}-s{seed}",
        f"train.threads={args.threads}",
        f"train.eval_episodes={args.episodes}",
        f"train.eval_every={args.eval_every}",
        f"train.checkpoint_every={max(args.steps // 10, 1)}",
        f"train.log_every={min(1000, args.steps)}",
        "train.progress=false",
        *args.set,
        *(args.set_gtp if method == "gtp" else args.set_gmpo),
    ]
    cfg = load(args.config[method], over)
    t0 = time.perf_counter()
    res = fit(cfg, overwrite=True)
    train_s = time.perf_counter() - t0
    algo, cfg, ckpt = load_algorithm(res.run_dir / "checkpoints" / "last.pt")
    obs = ckpt["normalizer"].get("obs_mean")
    obs = torch.tensor(obs).numpy() if obs is not None else None
    rows = []
    for k in args.k if method == "gtp" else [None]:
        if k is not None:
            algo.cfg.act.steps = k
        act = algo.cfg.act
        sampler = model_class(cfg.model.kind).resolve_sampler(cfg.model, act.steps, act.solver)
        steps, solver = sampler
        algo.seed_acting(cfg.train.eval_seed)
        ev = evaluate(algo.act, ckpt["env_id"], args.episodes, cfg.train.eval_seed, ckpt["dataset"])
        label = f"GTP K={steps}" if method == "gtp" else f"GMPO {steps}-step {solver}"
        rows.append(
            {
                "method": label,
                "seed": seed,
                "steps": ckpt["step"],
                "batch_size": cfg.algo.batch_size,
                "score": ev.score_mean,
                "return": ev.return_mean,
                "episodes": ev.episodes,
                "train_seconds": train_s,
                "actions_per_s": actions_per_s(algo, obs) if obs is not None else None,
                "dataset": ckpt["dataset"],
                "run_dir": str(res.run_dir),
            }
        )
    return rows


def fmt(values: list[float]) -> str:
    if not values:
        return "-"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.1f} +- {sd:.1f}"


def table(rows: list[dict[str, Any]], steps: int) -> str:
    rows = [r for r in rows if r["steps"] == steps]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    seeds = sorted({r["seed"] for r in rows})
    lines = [
        f"Dataset {rows[0]['dataset'] if rows else '?'}, {steps} update steps per run, "
        f"{rows[0]['episodes'] if rows else '?'} evaluation episodes; last checkpoint.",
        "",
        "| method | batch | score (mean +- std) | "
        + " | ".join(f"seed {s}" for s in seeds)
        + " | actions/s at batch 1 | train min/run |",
        "| --- | --- | --- | " + " | ".join("---" for _ in seeds) + " | --- | --- |",
    ]
    for m in methods:
        mine = {r["seed"]: r for r in rows if r["method"] == m}
        scores = [mine[s]["score"] for s in seeds if s in mine and mine[s]["score"] is not None]
        cells = [f"{mine[s]['score']:.1f}" if s in mine else "-" for s in seeds]
        aps = [mine[s]["actions_per_s"] for s in mine if mine[s]["actions_per_s"]]
        mins = [mine[s]["train_seconds"] / 60 for s in mine]
        lines.append(
            f"| {m} | {next(iter(mine.values()))['batch_size']} | {fmt(scores)} | "
            + " | ".join(cells)
            + f" | {statistics.median(aps):.0f} | {statistics.mean(mins):.1f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="datasets/hopper-medium-v5.hdf5")
    p.add_argument("--steps", type=int, required=True, help="update steps per training run")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--methods", nargs="+", default=["gtp", "gmpo"], choices=["gtp", "gmpo"])
    p.add_argument("--k", type=int, nargs="+", default=[1, 2, 5], help="GTP jumps to evaluate")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--eval-every", type=int, default=0, help="0: evaluate only at the end")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="runs/hopper_gtp_vs_gmpo")
    p.add_argument("--gtp-config", default=CONFIGS["gtp"])
    p.add_argument("--gmpo-config", default=CONFIGS["gmpo"])
    p.add_argument("--set", action="append", default=[], help="override for both methods")
    p.add_argument("--set-gtp", action="append", default=[], help="override for GTP only")
    p.add_argument("--set-gmpo", action="append", default=[], help="override for GMPO only")
    p.add_argument("--table", action="store_true", help="only rebuild the table")
    args = p.parse_args(argv)
    args.config = {"gtp": args.gtp_config, "gmpo": args.gmpo_config}
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.jsonl"

    def read() -> list[dict[str, Any]]:
        if not results.is_file():
            return []
        return [json.loads(x) for x in results.read_text().splitlines() if x.strip()]

    if not args.table:
        for seed in args.seeds:
            for method in args.methods:
                done = {(r["method"].split()[0].lower(), r["seed"], r["steps"]) for r in read()}
                if (method, seed, args.steps) in done:
                    print(f"skip {method} seed {seed}: already in {results}")
                    continue
                print(f"train {method} seed {seed} for {args.steps} steps", flush=True)
                rows = run_one(method, seed, args)
                with results.open("a") as f:
                    for r in rows:
                        f.write(json.dumps(r) + "\n")
                for r in rows:
                    print(f"  {r['method']}: score {r['score']}", flush=True)
    text = table(read(), args.steps)
    (out / "table.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
