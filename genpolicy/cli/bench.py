"""``genpolicy bench``: the generative core's speed on this machine."""

from __future__ import annotations

import argparse
import json
import sys

from genpolicy.errors import GenpolicyError


def _cmd(args: argparse.Namespace) -> int:
    from genpolicy.generative.bench import BenchConfig, format_report, run

    if args.threads < 1:
        raise GenpolicyError(f"--threads must be >= 1, got {args.threads}")

    def say(text: str) -> None:
        print(f"bench: {text} ...", file=sys.stderr, flush=True)

    res = run(BenchConfig(threads=args.threads, min_seconds=args.min_seconds), say)
    print(format_report(res))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="benchmark training, sampling and log-likelihood speed",
        description="Time the generative core on this machine: training steps of a "
        "diffusion, a flow and a flow-map policy, sampling at several step counts and batch "
        "sizes, and log-likelihoods; prints a table (stderr says what is being timed).",
    )
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--min-seconds", type=float, default=0.5, help="time per measurement")
    p.add_argument("--json", help="also write the results to this JSON file")
    p.set_defaults(func=_cmd)
