"""The sweep runner's backends side by side, written to a JSON file.

1. Same metrics: 2 algorithms x 2 datasets x 2 seeds, run by the local backend and by Ray
   Tune (on this machine); every trial's evaluation rows are compared.
2. Overhead: a 12-trial toy-bandit sweep, wall time of each backend.
3. Search: ASHA over GMPO's beta and lr on the toy bandit, against the default setting.

    python benchmarks/sweep_backends.py --out benchmarks/results/sweep_backends.json

Needs genpolicy[ray] and, for part 1, the suite's hopper-medium-v5 and halfcheetah-medium-v5
(genpolicy dataset make-suite). Part 1 uses short runs: it checks equality, not scores.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from genpolicy.experiments.jsonio import compact_json
from genpolicy.experiments.local import run_local
from genpolicy.experiments.ray_backend import best_trial, run_ray
from genpolicy.experiments.spec import expand, parse_spec, trial_config
from genpolicy.experiments.trial import run_dir_of


def eval_rows(run_dir: Path) -> list[dict[str, Any]]:
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x]
    return [
        {k: v for k, v in r.items() if k != "eval/seconds"} for r in rows if r["kind"] == "eval"
    ]


def both_backends(spec_dict: dict[str, Any], root: Path, workers: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    runs: dict[str, Path] = {}
    for backend in ("local", "ray"):
        spec = parse_spec({**spec_dict, "name": f"{spec_dict['name']}-{backend}"})
        spec.out = root / backend
        trials = expand(spec)
        t0 = time.perf_counter()
        if backend == "local":
            assert run_local(spec, trials, workers=workers, status_every=0).ok
        else:
            res = run_ray(spec, trials, workers=workers)
            assert all(v["error"] is None for v in res.values()), res
        out[f"{backend}_seconds"] = time.perf_counter() - t0
        runs[backend] = spec.out
        out["trials"] = [t.id for t in trials]
    same = {
        tid: eval_rows(runs["local"] / "runs" / tid) == eval_rows(runs["ray"] / "runs" / tid)
        for tid in out["trials"]
    }
    out["identical_eval_rows"] = same
    out["all_identical"] = all(same.values())
    out["final_scores"] = {
        tid: eval_rows(runs["local"] / "runs" / tid)[-1].get("eval/score_mean")
        for tid in out["trials"]
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="benchmarks/results/sweep_backends.json")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--parts", default="same,overhead,search")
    args = ap.parse_args()
    parts = args.parts.split(",")
    root = Path(tempfile.mkdtemp(prefix="genpolicy-sweep-bench-"))
    result: dict[str, Any] = {"workers": args.workers, "threads_per_trial": 1}
    try:
        if "same" in parts:
            result["same_metrics"] = both_backends(
                {
                    "name": "same",
                    "bases": {
                        "iql": "cpu/hopper-medium-iql",
                        "bc": "cpu/hopper-medium-bc",
                    },
                    "set": {
                        "train.steps": 500,
                        "train.eval_every": 250,
                        "train.checkpoint_every": 250,
                        "train.eval_episodes": 2,
                        "train.tensorboard": False,
                    },
                    "grid": {
                        "seed": [0, 1],
                        "dataset": ["hopper-medium-v5", "halfcheetah-medium-v5"],
                        "algo": ["iql", "bc"],
                    },
                },
                root / "same",
                args.workers,
            )
        if "overhead" in parts:
            result["overhead_12_toy_trials"] = both_backends(
                {
                    "name": "overhead",
                    "bases": {"gmpo": "toy-gmpo", "iql": "toy-iql"},
                    "set": {
                        "train.steps": 500,
                        "train.eval_every": 250,
                        "train.checkpoint_every": 250,
                        "train.eval_episodes": 500,
                        "train.tensorboard": False,
                    },
                    "grid": {"seed": [0, 1, 2, 3, 4, 5], "algo": ["gmpo", "iql"]},
                },
                root / "overhead",
                args.workers,
            )
        if "search" in parts:
            steps = 1500
            common = {
                "train.steps": steps,
                "train.eval_every": 250,
                "train.checkpoint_every": 500,
                "train.eval_episodes": 1000,
                "train.tensorboard": False,
            }
            default = parse_spec(
                {"name": "default", "base": "toy-gmpo", "set": common, "grid": {"seed": [0]}}
            )
            default.out = root / "default"
            assert run_local(default, expand(default), workers=1, status_every=0).ok
            d_trial = expand(default)[0]
            d_cfg = trial_config(default, d_trial)
            d_rows = eval_rows(run_dir_of(d_cfg))
            search = parse_spec(
                {
                    "name": "asha",
                    "base": "toy-gmpo",
                    "set": common,
                    "grid": {"seed": [0]},
                    "search": {
                        "metric": "eval/score_mean",
                        "mode": "max",
                        "samples": 12,
                        "scheduler": "asha",
                        "grace_period": 500,
                        "reduction_factor": 2,
                        "space": {
                            "algo.beta": {"loguniform": [1, 100]},
                            "algo.lr": {"choice": [0.0003, 0.001, 0.003]},
                        },
                    },
                }
            )
            search.out = root / "asha"
            t0 = time.perf_counter()
            res = run_ray(search, expand(search), workers=args.workers)
            name, best = best_trial(res, "eval/score_mean", "max")
            stopped = sum(1 for v in res.values() if v["metrics"].get("step", steps) < steps)
            result["asha_search"] = {
                "seconds": time.perf_counter() - t0,
                "samples": len(res),
                "stopped_early": stopped,
                "default": {
                    "beta": d_cfg.algo.beta,
                    "lr": d_cfg.algo.lr,
                    "score": d_rows[-1]["eval/score_mean"],
                },
                "best": {
                    "trial": name,
                    "params": best["params"],
                    "score": best["metrics"]["eval/score_mean"],
                },
                "all": {
                    k: {
                        "params": v["params"],
                        "score": v["metrics"].get("eval/score_mean"),
                        "step": v["metrics"].get("step"),
                    }
                    for k, v in res.items()
                },
            }
    finally:
        shutil.rmtree(root, ignore_errors=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(compact_json(result))
    print(json.dumps({k: v for k, v in result.items()}, indent=1, default=str)[:3000])


if __name__ == "__main__":
    main()
