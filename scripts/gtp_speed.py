"""GTP vs GMPO speed on one CPU thread: update steps/s and actions/s at batch 1.

Update steps/s: ``algo.update`` at each config's own batch size (GTP 256, GMPO 4096),
timed by ``genpolicy.training.speed.measure_speed``. Actions/s: ``algo.act(obs)`` on ONE raw
observation, as a robot calls it (numpy in, numpy out, normalisation and clipping
included), for GTP with K = 1, 2, 5 flow-map jumps and GMPO with its 32-step Euler sampler.
Networks are the shipped Hopper configs; the weights are untrained (speed does not depend
on them). Usage:

    python scripts/gtp_speed.py [--dataset datasets/hopper-expert-v5.hdf5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import torch

from genpolicy.generative.models import model_class
from genpolicy.rl.algos import build_algorithm
from genpolicy.training.config import load
from genpolicy.training.run_data import load_data
from genpolicy.training.speed import measure_speed


def per_second(fn: Callable[[], object], min_seconds: float) -> float:
    for _ in range(5):
        fn()
    n, t0 = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < min_seconds or n < 10:
        fn()
        n += 1
    return n / elapsed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="datasets/hopper-expert-v5.hdf5")
    p.add_argument("--gtp", default="gtp/hopper-medium")
    p.add_argument("--gmpo", default="published/gmpo/vp/hopper-medium")
    p.add_argument("--update-steps", type=int, default=20)
    p.add_argument("--min-seconds", type=float, default=2.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    over = [f"data.dataset={args.dataset}", f"train.threads={args.threads}"]
    runs = {
        "gtp (iql critic)": load(args.gtp, over),
        "gtp (td critic)": load(args.gtp, [*over, "algo.critic=td"]),
        "gmpo": load(args.gmpo, over),
        "gmpo (gtp's batch)": load(args.gmpo, [*over, "algo.batch_size=256"]),
    }
    data = load_data(runs["gmpo"])
    obs = data.observations[0].cpu().numpy()  # one raw observation
    out: dict[str, Any] = {
        "machine": {"cpu": platform.processor() or platform.machine(), "threads": args.threads},
        "torch": torch.__version__,
        "update_steps_per_s": {},
        "actions_per_s_batch1": {},
    }
    for name, cfg in runs.items():
        sp = measure_speed(cfg, args.update_steps, dataset=data)
        out["update_steps_per_s"][f"{name}, batch {cfg.algo.batch_size}"] = sp["steps_per_s"]
    for name, cfg, steps in [
        *[("gtp", runs["gtp (iql critic)"], k) for k in (1, 2, 5)],
        ("gmpo", runs["gmpo"], None),
    ]:
        torch.manual_seed(0)
        algo: Any = build_algorithm(
            cfg.algo, cfg.model, cfg.critic, data.obs_dim, data.act_dim, "cpu"
        )
        algo.eval()
        if steps is not None:
            algo.cfg.act.steps = steps
        act = algo.cfg.act
        k, solver = model_class(cfg.model.kind).resolve_sampler(cfg.model, act.steps, act.solver)
        label = f"{name} K={k} jumps" if name == "gtp" else f"{name} {k}-step {solver}"
        out["actions_per_s_batch1"][label] = per_second(partial(algo.act, obs), args.min_seconds)
    for section in ("update_steps_per_s", "actions_per_s_batch1"):
        print(section)
        for key, val in out[section].items():
            print(f"  {key:<32} {val:10.1f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
