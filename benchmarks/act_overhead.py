"""What ``Algorithm.act`` adds per call over the policy's raw sampler, at batch 1.

    OMP_NUM_THREADS=1 python benchmarks/act_overhead.py [--config gtp/hopper-medium]

Builds the config's algorithm (untrained weights: the cost does not depend on them) with
Hopper sizes and times, interleaved over ``--rounds`` rounds (median kept):

* ``raw``: ``model.sample(states_tensor, steps, solver, generator)`` on a prepared tensor;
* ``act``: ``algo.act(observation)`` from a float32 numpy observation, the call an
  evaluation loop makes (array to tensor, normalisation, sampling, clipping, back to numpy).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from genpolicy.experiments.jsonio import compact_json
from genpolicy.rl.algos import build_algorithm
from genpolicy.training.config import load


def per_call_us(fn: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="gtp/hopper-medium")
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = load(args.config)
    algo = build_algorithm(cfg.algo, cfg.model, cfg.critic, 11, 3, "cpu")
    model = algo.acting_policy()
    act_cfg = cfg.algo.act
    steps, solver = model.resolve_sampler(cfg.model, act_cfg.steps, act_cfg.solver)
    obs = np.random.default_rng(0).standard_normal(11).astype(np.float32)
    x = torch.from_numpy(obs).unsqueeze(0)

    def raw() -> object:
        with torch.inference_mode():
            return model.sample(x, steps=steps, solver=solver, generator=algo.act_generator)

    def act() -> object:
        return algo.act(obs)

    times: dict[str, list[float]] = {"raw": [], "act": []}
    for fn in (raw, act):
        per_call_us(fn, 200)  # warm-up
    for _ in range(args.rounds):
        times["raw"].append(per_call_us(raw, args.calls))
        times["act"].append(per_call_us(act, args.calls))
    med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    result = {
        "config": args.config,
        "sampler": f"{steps} x {solver}",
        "raw_us": med["raw"],
        "act_us": med["act"],
        "overhead_us": med["act"] - med["raw"],
        "load_average": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(compact_json(result))


if __name__ == "__main__":
    main()
