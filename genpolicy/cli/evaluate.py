"""``genpolicy evaluate``: run a trained policy on its environment."""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any


def add_parser(sub: Any) -> None:
    e = sub.add_parser(
        "evaluate",
        help="evaluate a checkpoint on its environment",
        description="Run a trained policy (a run directory or a checkpoint file) and print "
        "raw and D4RL-normalised returns as JSON.",
    )
    e.add_argument("checkpoint", help="checkpoint file or run directory")
    e.add_argument(
        "--episodes",
        type=int,
        default=10,
        help="episodes to run, one per environment copy, seeded from --seed (default 10)",
    )
    e.add_argument("--seed", type=int, default=None, help="default: the run's eval seed")
    e.add_argument("--candidates", type=int, default=None, help="rank N samples by Q")
    e.add_argument("--steps", type=int, default=None, help="sampler steps for generative policies")
    e.add_argument(
        "--noise-scale",
        type=float,
        default=None,
        help="scale of a generative policy's start noise (0: deterministic, 1: sample)",
    )
    e.add_argument("--device", default="cpu", help="torch device to act on (default cpu)")
    e.add_argument(
        "--env",
        default=None,
        help="Gymnasium environment to evaluate on (default: the one the run recorded)",
    )
    e.set_defaults(func=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    from genpolicy.training.checkpoint import checkpoint_file
    from genpolicy.training.device import check_device
    from genpolicy.training.policy import load_policy

    check_device(args.device, "--device")
    actor = load_policy(
        args.checkpoint,
        args.device,
        candidates=args.candidates,
        steps=args.steps,
        noise_scale=args.noise_scale,
        env_id=args.env,
    )
    act_cfg = actor.act_cfg
    res = actor.evaluate(args.episodes, args.seed)
    out = {
        "checkpoint": str(args.checkpoint),
        "checkpoint_file": str(checkpoint_file(args.checkpoint)),
        "step": actor.ckpt["step"],
        "env_id": actor.env_id,
        "task": actor.task,
        "act": dataclasses.asdict(act_cfg) if act_cfg is not None else None,
        **res.to_dict(),
    }
    print(json.dumps(out, indent=2))
    return 0
