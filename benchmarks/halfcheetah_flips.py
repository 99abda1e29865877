"""How often a HalfCheetah policy ends up on its back: for each run folder, a few episodes of
its policy acting as evaluated (the evaluation seeds 100000+i), each episode's return and the
share of its steps with the body pitched more than 90 degrees (``|obs[1]| > pi/2``, the root's
rotation about y).

    python benchmarks/halfcheetah_flips.py RUN [RUN ...] --episodes 3 --out flips.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

import genpolicy
from genpolicy.errors import GenpolicyError

PITCH = 1  # HalfCheetah-v5's observation index of the root's rotation about y
EVAL_SEED = 100000  # genpolicy's evaluation seeds: EVAL_SEED + episode


def episodes(run: Path, n: int) -> list[dict[str, Any]]:
    import gymnasium as gym

    policy = genpolicy.load_policy(run)
    env = gym.make("HalfCheetah-v5")
    out = []
    for ep in range(n):
        obs, _ = env.reset(seed=EVAL_SEED + ep)
        ret, flipped, steps = 0.0, 0, 0
        done = False
        while not done:
            obs, r, term, trunc, _ = env.step(np.asarray(policy.act(obs)).reshape(-1))
            ret += float(r)
            flipped += abs(float(obs[PITCH])) > math.pi / 2
            steps += 1
            done = term or trunc
        out.append({"return": round(ret, 1), "flipped_share": round(flipped / steps, 3)})
    env.close()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path, help="run folders of HalfCheetah policies")
    p.add_argument("--episodes", type=int, default=3)
    p.add_argument("--out", type=Path, required=True, help="the JSON to write")
    a = p.parse_args(argv)
    try:
        result = {r.name: episodes(r, a.episodes) for r in a.runs}
    except GenpolicyError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    a.out.write_text(json.dumps(result, indent=1) + "\n")
    for name, eps in result.items():
        print(name, [(e["return"], e["flipped_share"]) for e in eps])
    return 0


if __name__ == "__main__":
    sys.exit(main())
