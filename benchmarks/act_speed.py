"""Actions per second at batch 1 of trained runs, acting exactly as their evaluation does.

    python benchmarks/act_speed.py benchmarks/results/baselines-medium-replay/runs \
        --out benchmarks/results/act_speed_baselines.json [--seconds 2]

Each argument is a run folder or a folder of run folders (any depth, as ``genpolicy
report`` finds them); unfinished and interrupted runs and runs without a checkpoint are
skipped and listed. For every finished run the last checkpoint is loaded as ``genpolicy
evaluate`` loads it (``genpolicy.envs.evaluate.load_policy``: the run's act settings, i.e.
sampler steps, solver, candidates and start-noise scale, and its acting weights, EMA where
the algorithm keeps one), the acting generator is seeded with the run's eval seed, and
``act`` is called on ONE raw observation at a time, (1, obs_dim) float32 as the evaluation
loop passes it, cycling over observations from the environment's reset (the dataset's
first observations where the checkpoint names no environment). ``--candidates N`` (repeatable)
times each run again ranking N samples by Q instead of its own count, as ``genpolicy evaluate
--candidates N`` acts (e.g. the curves' N=16 rows); ``--steps K`` (repeatable) times it
again acting with K sampler steps (a flow map's K jumps), as ``genpolicy evaluate --steps K``.
One torch thread; after a warm-up the calls repeat for at least ``--seconds``
(``genpolicy.generative.bench.timeit``). The machine's load average is recorded before each
run's timing: numbers taken while other jobs run are not clean.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
from itertools import cycle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genpolicy import __version__
from genpolicy.envs.evaluate import make_eval_env
from genpolicy.errors import GenpolicyError
from genpolicy.experiments.jsonio import compact_json
from genpolicy.experiments.report import RunRecord, collect_runs
from genpolicy.generative.bench import timeit
from genpolicy.training.checkpoint import exists
from genpolicy.training.policy import Policy, load_policy

OBSERVATIONS = 16  # distinct observations the timed calls cycle over
CHECKPOINT = "last"  # the checkpoint whose evaluation gives the final score


def observations(actor: Policy, n: int = OBSERVATIONS) -> tuple[list[np.ndarray], str]:
    """``n`` raw observations, each (1, obs_dim) float32, and where they came from."""
    env_id = actor.ckpt.get("env_id")
    seed = actor.cfg.train.eval_seed
    if env_id:
        env = make_eval_env(env_id, n, seed)
        try:
            obs = np.asarray(env.reset(seed=seed)[0], dtype=np.float32)
        finally:
            env.close()
        source = f"{env_id} reset (seed {seed})"
    else:
        from genpolicy.training.run_data import load_data

        data = load_data(actor.cfg)
        obs = data.observations[:n].cpu().numpy().astype(np.float32)
        source = f"dataset {actor.cfg.data.dataset}"
    return [obs[i : i + 1] for i in range(len(obs))], source


def time_run(
    run: RunRecord, seconds: float, candidates: int | None = None, steps: int | None = None
) -> dict[str, Any]:
    """One run's record: actions/s at batch 1 with its evaluation's act settings (ranking
    ``candidates`` samples by Q, or with ``steps`` sampler steps, instead, when given)."""
    path = run.path / "checkpoints" / CHECKPOINT
    actor = load_policy(path, candidates=candidates, steps=steps)
    pool, source = observations(actor)
    actor.algo.seed_acting(actor.cfg.train.eval_seed)
    obs = cycle(pool)
    load = os.getloadavg()
    per_call = timeit(lambda: actor.act(next(obs)), seconds)
    act, weights = actor.act_settings(), actor.algo.acting_weights()
    return {
        "run": run.path.name,
        "path": str(run.path),
        "algo": run.algo,
        "group": run.group,
        "dataset": run.dataset,
        "seed": run.seed,
        "checkpoint": CHECKPOINT,
        "step": int(actor.ckpt["step"]),
        "actions_per_s": 1.0 / per_call,
        "act": act,
        "acting_weights": weights,
        "acting": acting(act, weights),
        "observations": f"{len(pool)} from {source}",
        "torch_threads": torch.get_num_threads(),
        "load_average": list(load),
        "seconds": seconds,
    }


def skip_reason(run: RunRecord) -> str | None:
    if run.status != "finished":
        return f"{run.status} (no summary.json)" if run.status == "unfinished" else run.status
    if not exists(run.path, CHECKPOINT):
        return f"no {CHECKPOINT} checkpoint"
    return None


def acting(act: dict[str, Any] | None, weights: str) -> str:
    """How a policy acts, e.g. '15-step heun, 64 candidates, ema weights'."""
    parts = [f"{act['steps']}-step {act['solver']}"] if act and act["steps"] else ["no sampler"]
    if act is not None and act["candidates"] > 1:
        parts.append(f"{act['candidates']} candidates")
    if act is not None and act["noise_scale"] != 1.0:
        parts.append(f"noise {act['noise_scale']:g}")
    return ", ".join([*parts, f"{weights} weights"])


def describe(rec: dict[str, Any]) -> str:
    return (
        f"{rec['run']}: {rec['algo']} {rec['dataset']} s{rec['seed']} step {rec['step']}: "
        f"{rec['actions_per_s']:,.1f} actions/s ({rec['acting']}; "
        f"{rec['torch_threads']} thread, load {rec['load_average'][0]:.2f})"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="run folders or folders of run folders")
    p.add_argument("--out", required=True, help="JSON file to write")
    p.add_argument("--seconds", type=float, default=2.0, help="timed seconds per run (default 2)")
    p.add_argument(
        "--candidates",
        type=int,
        action="append",
        metavar="N",
        help="also time each run ranking N samples by Q (repeatable; default: the run's own)",
    )
    p.add_argument(
        "--steps",
        type=int,
        action="append",
        metavar="K",
        help="also time each run acting with K sampler steps (repeatable)",
    )
    args = p.parse_args(argv)
    if not args.seconds > 0:
        p.error(f"--seconds must be > 0, got {args.seconds}")
    if any(n < 1 for n in args.candidates or []):
        p.error(f"--candidates must be >= 1, got {args.candidates}")
    if any(k < 1 for k in args.steps or []):
        p.error(f"--steps must be >= 1, got {args.steps}")
    torch.set_num_threads(1)
    seen: set[Path] = set()
    timings: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []

    def skip(run: RunRecord, reason: str) -> None:
        skipped.append({"run": run.path.name, "path": str(run.path), "reason": reason})
        print(f"skip {run.path}: {reason}", flush=True)

    for root in args.runs:
        for run in collect_runs(root):
            if run.path.resolve() in seen:
                continue
            seen.add(run.path.resolve())
            reason = skip_reason(run)
            if reason is not None:
                skip(run, reason)
                continue
            variants = [(None, None), *((n, None) for n in args.candidates or [])]
            variants += [(None, k) for k in args.steps or []]
            for n, k in variants:
                try:
                    rec = time_run(run, args.seconds, n, k)
                except GenpolicyError as exc:  # --candidates for a policy without a sampler
                    skip(run, f"--candidates {n}: {exc}" if n else f"--steps {k}: {exc}")
                    continue
                timings.append(rec)
                print(describe(rec), flush=True)
    result = {
        "meta": {
            "created": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "command": " ".join(["python", "benchmarks/act_speed.py", *(argv or sys.argv[1:])]),
            "seconds": args.seconds,
            "cpu": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "genpolicy_version": __version__,
        },
        "timings": timings,
        "skipped": skipped,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(compact_json(result))
    print(f"{len(timings)} timed, {len(skipped)} skipped: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
