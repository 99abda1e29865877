"""``genpolicy bench``: the generative core's speed on this machine."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from genpolicy.errors import GenpolicyError


def _csv(text: str, key: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise GenpolicyError(f"{key} must list at least one value, got {text!r}")
    return items


def _check_json(path: str) -> None:
    """Refuse a ``--json`` file that cannot be written now, not after the benchmark."""
    import tempfile
    from pathlib import Path

    try:
        if Path(path).is_dir():
            raise IsADirectoryError(21, "it is a folder")
        with tempfile.NamedTemporaryFile(dir=Path(path).parent, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise GenpolicyError(
            f"--json {path}: cannot write it ({exc.strerror or exc}); "
            "pass a file in a folder you can write"
        ) from None


def _train(args: argparse.Namespace, say: Any) -> dict[str, Any]:
    from genpolicy.training.bench import (
        ALGOS,
        TrainBenchConfig,
        format_train_report,
        run_train_bench,
    )
    from genpolicy.training.device import check_device

    algos = tuple(_csv(args.algos, "--algos")) if args.algos else (*ALGOS, "gmpo-published")
    for a in algos:
        if a not in (*ALGOS, "gmpo-published"):
            raise GenpolicyError(
                f"--algos: unknown algorithm {a!r}; choose from {', '.join(ALGOS)}"
            )
    try:
        batches = tuple(int(b) for b in _csv(args.batches, "--batches"))
    except ValueError:
        raise GenpolicyError(f"--batches must list integers, got {args.batches!r}") from None
    if min(batches) < 1:
        raise GenpolicyError(f"--batches must be >= 1, got {args.batches!r}")
    check_device(args.device, "--device")
    try:
        populations = tuple(int(b) for b in _csv(args.populations, "--populations"))
    except ValueError:
        raise GenpolicyError(
            f"--populations must list integers, got {args.populations!r}"
        ) from None
    cfg = TrainBenchConfig(
        algos=algos,
        batches=batches,
        populations=populations,
        modes=tuple(_csv(args.modes, "--modes")),
        device=args.device,
        threads=args.threads,
        min_seconds=args.min_seconds,
    )
    if args.quick:  # a smoke run: small networks and batches, few updates
        cfg.batches, cfg.min_seconds, cfg.warmup, cfg.max_updates = (32,), 0.0, 1, 2
        cfg.overrides = {"model.hidden": 16, "model.depth": 1, "critic.hidden": 16}

    def save(res: dict[str, Any]) -> None:
        if args.json:
            with open(args.json, "w") as f:
                json.dump(res, f, indent=2)

    res = run_train_bench(cfg, say, save)
    print(format_train_report(res))
    return res


def _cmd(args: argparse.Namespace) -> int:
    from genpolicy.generative.bench import BenchConfig, format_report, run

    if args.threads < 1:
        raise GenpolicyError(f"--threads must be >= 1, got {args.threads}")
    if not args.min_seconds >= 0:
        raise GenpolicyError(f"--min-seconds must be >= 0, got {args.min_seconds}")
    if args.json:
        _check_json(args.json)

    def say(text: str) -> None:
        print(f"bench: {text} ...", file=sys.stderr, flush=True)

    if args.what == "train":
        _train(args, say)
        return 0
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
    p.add_argument(
        "what",
        nargs="?",
        choices=("core", "train"),
        default="core",
        help="core (default): the generative core; train: updates/s of each algorithm, "
        "eager and compiled (train.compile), at several batch sizes",
    )
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--min-seconds", type=float, default=0.5, help="time per measurement")
    p.add_argument("--algos", default="", help="train: comma-separated algorithms (default all)")
    p.add_argument("--batches", default="256,512,4096", help="train: batch sizes")
    p.add_argument(
        "--modes",
        default="eager,default",
        help="train: eager and compile modes (default, max-autotune, reduce-overhead on CUDA)",
    )
    p.add_argument(
        "--populations",
        default="1",
        help="train: population sizes, e.g. 1,8,32 (members per batched update; bc, iql, "
        "gmpo, gtp)",
    )
    p.add_argument("--device", default="cpu", help="train: cpu or cuda")
    p.add_argument("--quick", action="store_true", help="train: a tiny smoke run")
    p.add_argument("--json", help="also write the results to this JSON file")
    p.set_defaults(func=_cmd)
