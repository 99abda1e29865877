"""Log-likelihood error of a trained ODE model by ODE time grid (the error budget).

GMPG integrates log pi and log mu with a few RK4 steps. On the vp path the probability-flow
field is stiff near the data end (t_min = 1e-3), where equally spaced times put one coarse
step. This benchmark measures, on a run's trained model, the mean and max |error| (nats per
sample) against a 1000-step reference for several time grids: ``uniform``, ``pow<p>``
(``model.grid_power = p``: t = t_min + (t_max - t_min) u^p), ``logt`` (geometric in t),
``lognsr`` (equally spaced in the log noise-to-signal ratio sigma/alpha) and ``edm<rho>``
(Karras et al.'s rho-schedule on sigma/alpha). Two references are computed, by default on
the uniform and on the edm7 grid (``--reference-grids``; the noise-to-signal grids need a
path whose sigma/alpha is finite at t_max, as vp's: use ``uniform,pow2`` for the linear
path), and their agreement is reported: it bounds the reference's own error. Errors are
measured against the second.

    OMP_NUM_THREADS=1 python benchmarks/loglik_time_grids.py RUN \
        [--model behaviour] [--out benchmarks/results/loglik_time_grids.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genpolicy.experiments.jsonio import compact_json
from genpolicy.training.checkpoint import load_algorithm
from genpolicy.training.run_data import load_data

GRIDS = ("uniform", "pow2", "pow3", "logt", "lognsr", "edm3", "edm7")


def make_grid(kind: str, steps: int, path: Any, lo: float, hi: float) -> torch.Tensor:
    """steps + 1 times from hi (noise) to lo (data)."""
    u = torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64)
    if kind == "uniform":
        t = lo + (hi - lo) * u
    elif kind.startswith("pow"):
        t = lo + (hi - lo) * u ** float(kind[3:])
    elif kind == "logt":
        if lo <= 0:
            raise SystemExit(f"the logt grid needs t_min > 0; this path's t_min is {lo}")
        t = torch.exp(np.log(lo) + (np.log(hi) - np.log(lo)) * u)
    else:  # on the noise-to-signal ratio, inverted by interpolation on a dense grid
        dense = torch.linspace(lo, hi, 200_001, dtype=torch.float64)
        log_r = (path.sigma(dense) / path.alpha(dense)).log()
        if kind == "lognsr":
            target = log_r[0] + u * (log_r[-1] - log_r[0])
        elif kind.startswith("edm"):
            rho = float(kind[3:])
            rmin, rmax = float(log_r[0].exp()), float(log_r[-1].exp())
            r = (rmin ** (1 / rho) + u * (rmax ** (1 / rho) - rmin ** (1 / rho))) ** rho
            target = r.log()
        else:
            raise SystemExit(f"unknown grid {kind!r}; choose from {GRIDS}")
        t = torch.from_numpy(np.interp(target.numpy(), log_r.numpy(), dense.numpy()))
    t[0], t[-1] = hi, lo
    return t.float()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("--model", default="behaviour", choices=("behaviour", "policy"))
    ap.add_argument("--states", type=int, default=256)
    ap.add_argument("--steps", default="6,10,20")
    ap.add_argument("--grids", default=",".join(GRIDS))
    ap.add_argument("--reference-steps", type=int, default=1000)
    ap.add_argument("--reference-grids", default="uniform,edm7")
    ap.add_argument("--out", default="benchmarks/results/loglik_time_grids.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    algo, cfg, ckpt = load_algorithm(args.run)
    model = getattr(algo, args.model)
    path, lo, hi = model.path, model.t_min, model.t_max
    gen = torch.Generator().manual_seed(0)
    states = load_data(cfg).sample(args.states, generator=gen).observations
    with torch.no_grad():
        actions = model.sample(states, generator=gen).clamp(-1.0, 1.0)

    def log_prob(kind: str, steps: int) -> tuple[torch.Tensor, float]:
        original = path.time_grid
        path.time_grid = lambda s, a=None, b=None, power=1.0: make_grid(kind, s, path, lo, hi)
        model._sampler_cache.clear()  # plans are cached by step count
        try:
            with torch.no_grad():
                t0 = time.perf_counter()
                out = model.log_prob(actions, states, steps, "rk4", "exact")
                return out, time.perf_counter() - t0
        finally:
            path.time_grid = original
            model._sampler_cache.clear()

    first_grid, ref_grid = args.reference_grids.split(",")
    first, _ = log_prob(first_grid, args.reference_steps)
    ref, _ = log_prob(ref_grid, args.reference_steps)
    agreement = float((first - ref).abs().mean())
    print(f"references ({args.reference_grids} x {args.reference_steps}): |diff| {agreement:.2e}")
    rows: list[dict[str, Any]] = []
    for kind in args.grids.split(","):
        for steps in (int(s) for s in args.steps.split(",")):
            value, seconds = log_prob(kind, steps)
            err = value - ref
            row = {
                "grid": kind,
                "steps": steps,
                "mean_abs_error_nats": float(err.abs().mean()),
                "max_abs_error_nats": float(err.abs().max()),
                "mean_bias_nats": float(err.mean()),
                "seconds": seconds,
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    result = {
        "run": args.run,
        "model": args.model,
        "model_config": dataclasses.asdict(model.cfg),
        "step": ckpt["step"],
        "states": args.states,
        "solver": "rk4",
        "divergence": "exact",
        "reference": {"steps": args.reference_steps, "grid": ref_grid},
        "reference_agreement": {"grids": [first_grid, ref_grid], "mean_abs_diff_nats": agreement},
        "reference_logp_mean": float(ref.mean()),
        "rows": rows,
    }
    Path(args.out).write_text(compact_json(result))


if __name__ == "__main__":
    main()
