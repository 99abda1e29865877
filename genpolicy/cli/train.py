"""``genpolicy train``: train an offline RL policy from a config."""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
from typing import Any

from genpolicy.errors import GenpolicyError


def add_set_argument(p: argparse.ArgumentParser) -> None:
    """``--set KEY=VALUE`` (repeatable): config overrides, collected in ``args.overrides``."""
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set train.steps=1000 --set algo.beta=8",
    )


def add_parser(sub: Any) -> None:
    from genpolicy.training.shipped import builtin_names, default_names

    p = sub.add_parser(
        "train",
        help="train an offline RL policy from a config",
        description="Train from a YAML/JSON config, an algorithm's default "
        f"({', '.join(default_names())}: add --set data.dataset=FILE), a published "
        "per-dataset config (published/gmpo/vp/hopper-medium), a benchmark's CPU config "
        "(cpu/hopper-medium-gmpo; `genpolicy configs` lists them all) or a built-in toy "
        f"({', '.join(builtin_names())}).",
    )
    p.add_argument("config", nargs="?", default="default", help="config file or name")
    add_set_argument(p)
    p.add_argument(
        "--resume", action="store_true", help="continue the run from its last checkpoint"
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing run directory")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.add_argument(
        "--speed",
        type=int,
        metavar="N",
        default=None,
        help="time N >= 1 updates (and acting at batch 1), print steps/s, write nothing",
    )
    p.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    import yaml

    from genpolicy.training.config import load
    from genpolicy.training.trainer import fit

    cfg = load(args.config, args.overrides)
    if args.print_config:
        print(yaml.safe_dump(cfg.to_dict(), sort_keys=False), end="")
        return 0
    if args.speed is not None:
        if args.speed < 1:
            raise GenpolicyError(
                f"--speed N times N updates and must be >= 1, got {args.speed}; e.g. --speed 50"
            )
        from genpolicy.training.speed import measure_speed

        speed = measure_speed(cfg, args.speed)
        print(json.dumps({"algo": cfg.algo.name, "batch_size": cfg.algo.batch_size, **speed}))
        return 0
    result = fit(cfg, resume=args.resume, overwrite=args.overwrite)
    s = result.summary
    if result.already_finished:
        print(
            f"run {s['run']} is finished ({s['steps']} steps); nothing to do (raise "
            "train.steps to train it further)"
        )
        print(f"summary: {result.run_dir / 'summary.json'}")
        return 0
    line = f"run {s['run']}: {s['steps']} steps at {s['steps_per_s']:.1f} steps/s"
    for tag in ("last", "best"):
        row = s.get(tag)
        if row:
            score = row.get("eval/score_mean")
            line += f"; {tag}: return {row['eval/return_mean']:.1f}"
            line += f" score {score:.1f}" if score is not None else ""
    print(line)
    print(f"summary: {result.run_dir / 'summary.json'}")
    if result.interrupted:
        saved = result.run_dir / "config.yaml"
        print(
            f"interrupted at step {s['steps']}, checkpoint saved; continue with: "
            f"genpolicy train {shlex.quote(str(saved))} --resume",
            file=sys.stderr,
        )
        return 143 if result.stop_signal == signal.SIGTERM else 130
    return 0
