"""A maze dataset's own success rate and score, in the evaluation's terms.

The suite's PointMaze data is one long trajectory of the planner (goals resampled on
arrival), cut into episodes at each arrival. To compare it with a policy's evaluation
episodes, this cuts the stream into consecutive windows of the evaluation's episode length
(600 steps for medium) and reports the share of windows that reach the evaluation goal
(reward > 0) and the windows' mean D4RL maze2d-normalised return.

    python benchmarks/maze_data_success.py pointmaze-medium-v1 \
        [--out benchmarks/results/maze_data_success.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from genpolicy.data.make.maze import max_episode_steps
from genpolicy.data.readers import read_raw
from genpolicy.envs.registry import normalized_score
from genpolicy.experiments.jsonio import compact_json


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", nargs="+", help="maze dataset names or paths")
    ap.add_argument("--out", default="benchmarks/results/maze_data_success.json")
    args = ap.parse_args()
    rows = []
    for name in args.dataset:
        raw = read_raw(name)
        limit = max_episode_steps(None, Path(name).stem)
        if limit is None:
            raise SystemExit(f"{name}: not a PointMaze dataset name (pointmaze-<size>-v1)")
        rewards = np.asarray(raw.arrays["rewards"], dtype=np.float64).reshape(-1)
        n = len(rewards) // limit
        windows = rewards[: n * limit].reshape(n, limit)
        returns = windows.sum(axis=1)
        scores = np.asarray(normalized_score(Path(name).stem, returns))
        row = {
            "dataset": name,
            "window_steps": limit,
            "windows": n,
            "success_rate": float((windows > 0).any(axis=1).mean()),
            "score_mean": float(scores.mean()),
            "score_std": float(scores.std()),
        }
        rows.append(row)
        print(json.dumps(row))
    Path(args.out).write_text(compact_json(rows))


if __name__ == "__main__":
    main()
