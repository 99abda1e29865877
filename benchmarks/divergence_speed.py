"""CPU time of one CNF ``log_prob`` call by divergence route: ours (tangents through the
network by hand, ``genpolicy/generative/exact_trace.py``) against the generic ``torch.func`` route
of ``solvers.divergence_exact``, in one process, interleaved. That route is reverse mode
(``vjp`` rows under ``vmap``); ``divergence_speed.json`` measured its earlier
forward-mode version (``jvp`` under ``vmap``).

    OMP_NUM_THREADS=1 python benchmarks/divergence_speed.py \\
        --out benchmarks/results/divergence_speed.json

The model is the CPU GMPG configs' policy (flow, linear path, 3 x 256 residual SiLU trunk)
at hopper (11-D states, 3-D actions) and halfcheetah (17-D, 6-D) sizes with random weights;
batch 256, 16 RK4 steps (64 field evaluations), as in docs/benchmarks/speed.md. Each route's
median CPU seconds (``time.process_time``, so a busy machine inflates it less than wall
time) over ``--repeats`` calls, in alternation.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from genpolicy.experiments.jsonio import compact_json
from genpolicy.generative.bench import log_prob_call
from genpolicy.generative.models import ModelConfig, build_model

SIZES = {"hopper": (11, 3), "halfcheetah": (17, 6)}


def torch_func_route(model: Any) -> None:
    """Make ``model`` hand its solvers a plain callable, so they take the torch.func route."""
    original = model.velocity_field

    def plain(states: Any, cache: Any = None, guidance: Any = None) -> Any:
        field = original(states, cache, guidance)
        return lambda x, t: field(x, t)

    model.velocity_field = plain


def timed(call: Callable[[], None]) -> float:
    start = time.process_time()
    call()
    return time.process_time() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out", default="benchmarks/results/divergence_speed.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = ModelConfig(
        kind="flow", path="linear", hidden=256, depth=3, residual=True, activation="silu"
    )
    rows: dict[str, dict[str, float]] = {}
    for name, (s_dim, a_dim) in SIZES.items():
        torch.manual_seed(0)
        models = {
            "own": build_model(cfg, a_dim, s_dim),
            "torch.func": build_model(cfg, a_dim, s_dim),
        }
        models["torch.func"].load_state_dict(models["own"].state_dict())
        torch_func_route(models["torch.func"])
        s = torch.randn(args.batch, s_dim)
        a = torch.rand(args.batch, a_dim) * 2 - 1
        calls: dict[str, Callable[[], None]] = {}
        for route, m in models.items():
            for grad, mode in ((False, "no grad"), (True, "forward + backward")):
                calls[f"{route}, {mode}"] = log_prob_call(m, a, s, args.steps, "exact", grad)
        for call in calls.values():  # warm-up
            call()
        times: dict[str, list[float]] = {k: [] for k in calls}
        for _ in range(args.repeats):
            for key, call in calls.items():
                times[key].append(timed(call))
        rows[name] = {k: 1e3 * statistics.median(v) for k, v in times.items()}
        print(name, json.dumps({k: round(v, 1) for k, v in rows[name].items()}), flush=True)
    out = {"unit": "CPU ms per log_prob call", "batch": args.batch, "rk4_steps": args.steps}
    out |= {"repeats": args.repeats, "torch": torch.__version__, "generic_route": "vjp"}
    out |= {"rows": rows}
    Path(args.out).write_text(compact_json(out))


if __name__ == "__main__":
    main()
