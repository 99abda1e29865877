"""Updates per second of every algorithm in two checkouts of genpolicy, interleaved.

    git worktree add ../gp-before 90289e6          # the code before the speed-ups
    python benchmarks/speed_before_after.py --before ../gp-before \
        --out benchmarks/results/speed_before_after.json
    # GMPG's own divergence route (genpolicy/generative/exact_trace.py) against the torch.func one:
    git worktree add ../gp-b28c5b6 b28c5b6
    python benchmarks/speed_before_after.py --before ../gp-b28c5b6 --only gmpg \
        --out benchmarks/results/speed_gmpg_divergence.json

For each shipped CPU config, ``genpolicy train CONFIG --speed N`` (one torch thread) runs in a
fresh process with the *before* checkout first on PYTHONPATH, then with this one, repeated
``--repeats`` times in alternation so both see the same machine load; the median is kept.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from genpolicy.experiments.jsonio import compact_json

CONFIGS = {
    "bc (gaussian)": ("cpu/hopper-medium-bc", 300),
    "iql": ("cpu/hopper-medium-iql", 200),
    "gmpo (batch 512)": ("cpu/hopper-medium-gmpo", 40),
    "gtp": ("gtp/hopper-medium", 100),
    "gmpg (pretraining + policy gradient)": ("cpu/hopper-medium-gmpg", 5),
    "gmpg halfcheetah-medium-replay": ("cpu/halfcheetah-medium-replay-gmpg", 5),
}


def speed(code: Path | None, config: str, steps: int) -> dict[str, float]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if code is not None:
        env["PYTHONPATH"] = str(code)
    cmd = [sys.executable, "-m", "genpolicy.cli", "train", config, "--speed", str(steps)]
    cmd += ["--set", "train.threads=1"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True, help="checkout of the older code")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="benchmarks/results/speed_before_after.json")
    ap.add_argument("--only", default="", help="only the rows whose name contains this")
    args = ap.parse_args()
    before = Path(args.before).resolve()
    rows = {}
    configs = {k: v for k, v in CONFIGS.items() if args.only in k}
    if not configs:
        ap.error(f"--only {args.only!r} matches none of: {', '.join(CONFIGS)}")
    for name, (config, steps) in configs.items():
        runs: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
        for _ in range(args.repeats):
            runs["before"].append(speed(before, config, steps))
            runs["after"].append(speed(None, config, steps))
        row = {}
        for tag, rs in runs.items():
            for key in rs[0]:
                if isinstance(rs[0][key], float):
                    row[f"{tag}/{key}"] = statistics.median(r[key] for r in rs)
        rows[name] = row
        print(name, json.dumps(row))
    result = {"repeats": args.repeats, "before": str(before), "configs": configs, "rows": rows}
    Path(args.out).write_text(compact_json(result))


if __name__ == "__main__":
    main()
