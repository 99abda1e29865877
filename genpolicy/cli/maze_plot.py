"""``genpolicy maze-plot``: a maze dataset's trajectories, optionally with a policy's rollouts."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from genpolicy.envs.maze_plot import dataset_trajectories, plot_maze, policy_rollouts
from genpolicy.errors import GenpolicyError


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "maze-plot",
        help="draw a maze with dataset trajectories (and a run's rollouts) to PNG",
        description="Draw a maze dataset's walls, goal and --episodes of its trajectories to "
        "a PNG; with --run, overlay rollouts of that run's policy.",
    )
    p.add_argument("dataset", help="a maze dataset (path or id)")
    p.add_argument("--out", required=True, help="output .png")
    p.add_argument("--episodes", type=int, default=60, help="dataset episodes to draw")
    p.add_argument("--run", help="a run folder whose policy's rollouts to overlay")
    p.add_argument("--rollouts", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from genpolicy.data.writers import writable_folder

    if args.episodes < 0:
        raise GenpolicyError(f"--episodes must be >= 0, got {args.episodes}")
    if args.rollouts < 1:
        raise GenpolicyError(f"--rollouts must be >= 1, got {args.rollouts}")
    out = Path(args.out)
    if out.suffix.lower() != ".png" or out.is_dir():
        name = out / "maze.png" if out.is_dir() else out.with_suffix(".png")
        raise GenpolicyError(f"--out {args.out}: maze-plot writes a PNG; name the file {name}")
    if out.exists() and not args.overwrite:
        raise GenpolicyError(f"--out {args.out} exists; pass --overwrite or name another file")
    writable_folder(out.parent)  # before the rollouts
    env_id, trajs = dataset_trajectories(args.dataset, args.episodes, args.seed)
    rolls = None
    if args.run:
        run_env, rolls = policy_rollouts(args.run, args.rollouts, args.seed)
        if run_env != env_id:
            raise GenpolicyError(
                f"--run {args.run} acts in {run_env}, the dataset is in {env_id}; pass a run "
                "trained on this dataset"
            )
    out = plot_maze(
        env_id,
        args.out,
        trajectories=trajs,
        rollouts=rolls,
        title=f"{Path(args.dataset).stem}: {len(trajs)} dataset episodes"
        + (f", {len(rolls)} rollouts of {Path(args.run).name}" if rolls else ""),
    )
    print(f"wrote {out}")
    return 0
