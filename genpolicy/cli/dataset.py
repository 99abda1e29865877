"""``genpolicy dataset make | info | make-suite``."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from genpolicy.errors import GenpolicyError


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("dataset", help="make and inspect offline datasets")
    sub = p.add_subparsers(dest="dataset_command", metavar="SUBCOMMAND", required=True)

    m = sub.add_parser("make", help="roll out a behaviour policy into a D4RL-layout hdf5")
    m.add_argument("--env", required=True, help="Gymnasium id or task name, e.g. Hopper-v5")
    m.add_argument(
        "--policy",
        required=True,
        help="'random', an SB3 SAC/TQC .zip, a SAC actor .pt (genpolicy/data/make/assets), or "
        "'planner' for a PointMaze (D4RL maze2d recipe; --action-noise defaults to 0.5)",
    )
    m.add_argument("--size", type=int, required=True, help="number of transitions")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--deterministic", action="store_true", help="act with the policy's mean")
    m.add_argument(
        "--action-noise",
        type=float,
        default=None,
        metavar="SIGMA",
        help="add N(0, SIGMA^2) to every action, clipped to the action box (a noisy expert: "
        "--deterministic --action-noise 0.1)",
    )
    m.add_argument("--out", required=True, help="output .hdf5 (D4RL layout)")
    m.add_argument("--minari-out", help="also write a Minari dataset under this root folder")
    m.add_argument("--minari-id", help="Minari dataset id (default genpolicy/<out stem>)")
    m.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    m.add_argument("--no-progress", action="store_true")
    m.set_defaults(func=run_make)

    i = sub.add_parser("info", help="size, episodes, returns and normalised scores")
    i.add_argument("dataset", help="a path (.hdf5, .npz, Minari folder) or an id")
    i.add_argument("--json", action="store_true", help="print one JSON object")
    i.add_argument("--no-env-check", action="store_true", help="skip the environment checks")
    i.set_defaults(func=run_info)

    s = sub.add_parser("make-suite", help="regenerate the D4RL-style benchmark suite")
    s.add_argument(
        "--agents",
        default=None,
        help="folder with the TQC expert zips (needed for the expert and medium-expert kinds)",
    )
    s.add_argument("--size", type=int, default=200_000, help="transitions per rollout dataset")
    s.add_argument("--out", default="datasets", help="output folder (default datasets)")
    s.add_argument(
        "--buffers",
        default="datasets/sac",
        help="folder with the SAC replay buffers (sac_buffer_<task>-v5.npz)",
    )
    s.add_argument("--tasks", default="hopper,walker2d,halfcheetah")
    s.add_argument("--kinds", default="medium,expert,medium-replay,medium-expert")
    s.add_argument("--overwrite", action="store_true", help="remake existing datasets")
    s.add_argument("--no-progress", action="store_true")
    s.add_argument("--record", help="also write the generation records to this JSON file")
    s.set_defaults(func=run_make_suite)

    z = sub.add_parser(
        "make-maze-suite",
        help="make the PointMaze datasets (D4RL maze2d recipe: planner + PD controller)",
    )
    z.add_argument("--out", default="datasets", help="output folder (default datasets)")
    z.add_argument("--sizes", default="umaze,medium,large")
    z.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply the recipe's transitions (250k / 500k / 1M) by this",
    )
    z.add_argument("--overwrite", action="store_true", help="remake existing datasets")
    z.add_argument("--no-progress", action="store_true")
    z.add_argument("--record", help="also write the generation records to this JSON file")
    z.set_defaults(func=run_make_maze_suite)


def run_make(args: argparse.Namespace) -> int:
    from genpolicy.data.make.dataset import make_dataset
    from genpolicy.envs.gym_envs import env_id_for

    suffix = Path(args.out).suffix.lower()
    if suffix not in (".hdf5", ".h5"):
        raise GenpolicyError(
            f"--out {args.out}: dataset make writes HDF5 (D4RL layout); name the file "
            f"{Path(args.out).with_suffix('.hdf5')}"
        )
    env_id = env_id_for(args.env)
    if args.policy == "planner":
        return _make_maze(args, env_id)
    meta = make_dataset(
        env_id,
        args.policy,
        args.size,
        args.out,
        seed=args.seed,
        deterministic=args.deterministic,
        action_noise=args.action_noise or 0.0,
        minari_out=args.minari_out,
        minari_id=args.minari_id,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    print(f"wrote {args.out}: {meta['size']} transitions in {meta['rollout_wall_s']} s")
    return 0


def _make_maze(args: argparse.Namespace, env_id: str) -> int:
    from genpolicy.data.make.maze import make_maze_dataset
    from genpolicy.envs.mazes import MAZE_ENV_IDS, env_name

    robot, size, frame = MAZE_ENV_IDS.get(env_id, ("", "", ""))
    if robot != "point" or frame != "d4rl":
        choices = ", ".join(env_name("point", s, "d4rl") for s in ("umaze", "medium", "large"))
        raise GenpolicyError(
            f"--policy planner makes PointMaze data only; got --env {args.env}; use one of "
            f"{choices} (or maze2d-<size>)"
        )
    meta = make_maze_dataset(
        size,
        args.size,
        args.out,
        seed=args.seed,
        action_noise=0.5 if args.action_noise is None else args.action_noise,
        overwrite=args.overwrite,
        progress=not args.no_progress,
        minari_out=args.minari_out,
    )
    print(
        f"wrote {args.out}: {meta['size']} transitions, {meta['episodes']} episodes, "
        f"{meta['data_success_rate']:.1%} reached their goal, in {meta['rollout_wall_s']} s"
    )
    return 0


def format_info(info: dict[str, Any]) -> str:
    lines = [
        f"dataset      {info['name']} ({info['env_id'] or 'unknown env'})",
        f"transitions  {info['transitions']}  (obs {info['obs_dim']}, act {info['act_dim']})",
        f"episodes     {info['episodes']}  (terminals {info['terminals']}, "
        f"timeouts {info['timeouts']})",
        f"return       mean {info['return_mean']:.1f}  std {info['return_std']:.1f}  "
        f"min {info['return_min']:.1f}  max {info['return_max']:.1f}",
        f"fingerprint  {info['fingerprint']}  (sha256 of the transitions)",
    ]
    if "score_mean" in info:
        lines.append(
            f"norm. score  mean {info['score_mean']:.1f}  std {info['score_std']:.1f}  "
            f"min {info['score_min']:.1f}  max {info['score_max']:.1f}  "
            f"(D4RL reference, {info['task']})"
        )
    for k, v in info.get("metadata", {}).items():
        lines.append(f"meta         {k}: {v}")
    return "\n".join(lines)


def _check_env_known(env_id: str, name: str) -> None:
    """Refuse a dataset whose environment Gymnasium does not know (it could not be
    evaluated); a missing Gymnasium is left to the commands that need it."""
    import importlib.util

    from genpolicy.envs.builtin import builtin_env
    from genpolicy.envs.gym_envs import env_spaces

    if builtin_env(env_id) is not None or importlib.util.find_spec("gymnasium") is None:
        return
    try:
        known = env_spaces(env_id) is not None
    except GenpolicyError:  # a 'module:Env-v0' id whose module does not import
        known = False
    if not known:
        raise GenpolicyError(
            f"dataset {name!r} names environment {env_id!r}, which Gymnasium does not know; "
            "install the package that registers it, or pass --no-env-check"
        )


def run_info(args: argparse.Namespace) -> int:
    from genpolicy.data.make.dataset import dataset_summary
    from genpolicy.data.readers import load_dataset

    ds = load_dataset(args.dataset, env_check=not args.no_env_check, normalize_obs=False)
    if not args.no_env_check and ds.env_id:
        _check_env_known(ds.env_id, ds.name)
    info = dataset_summary(ds)
    info["metadata"] = {k: v for k, v in ds.metadata.items() if v not in ("", None)}
    print(json.dumps(info, default=str) if args.json else format_info(info))
    return 0


def _split(arg: str) -> list[str]:
    return [x.strip() for x in arg.split(",") if x.strip()]


def _old_records(record: str | None) -> list[Any]:
    """The records already in ``--record`` (a JSON list), read and checked before any dataset
    is made: a bad ``--record`` is refused up front, not after hours of rollouts."""
    if not record:
        return []
    from genpolicy.data.writers import writable_folder

    rec = Path(record)
    writable_folder(rec.parent)
    if not rec.exists():
        return []
    try:
        old = json.loads(rec.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise GenpolicyError(
            f"--record {rec}: cannot read it as JSON ({getattr(exc, 'strerror', None) or exc}); "
            "pass a new file name"
        ) from None
    if not isinstance(old, list):
        raise GenpolicyError(f"--record {rec}: not a JSON list of records; pass a new file name")
    return old


def _report_made(
    args: argparse.Namespace, old: list[Any], records: list[dict[str, Any]], seconds: float
) -> int:
    """Append the datasets' records to ``--record`` (a JSON list) and print the total."""
    if args.record:
        Path(args.record).write_text(json.dumps(old + records, indent=1))
    print(f"made {len(records)} datasets in {seconds:.1f} s")
    return 0


def run_make_maze_suite(args: argparse.Namespace) -> int:
    from genpolicy.data.make.suite import make_maze_suite

    old = _old_records(args.record)
    start = time.time()
    records = make_maze_suite(
        args.out,
        sizes=_split(args.sizes),
        scale=args.scale,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    return _report_made(args, old, records, time.time() - start)


def run_make_suite(args: argparse.Namespace) -> int:
    from genpolicy.data.make.suite import make_suite

    kinds = _split(args.kinds)
    if {"expert", "medium-expert"} & set(kinds):
        if args.agents is None:
            raise GenpolicyError(
                "the expert and medium-expert datasets need --agents FOLDER (the TQC expert "
                "zips); pass it, or leave those out with --kinds medium,medium-replay"
            )
        if not Path(args.agents).is_dir():
            raise GenpolicyError(
                f"--agents {args.agents}: no such folder; pass the folder with the expert agents"
            )
    old = _old_records(args.record)
    start = time.time()
    records = make_suite(
        args.agents,
        args.out,
        args.size,
        tasks=_split(args.tasks),
        kinds=kinds,
        buffers=args.buffers,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    return _report_made(args, old, records, time.time() - start)
