"""``genpolicy report DIR``: tables and learning curves from a folder of run folders, or
again from a report's results.json."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from genpolicy.errors import GenpolicyError
from genpolicy.experiments.report import DEFAULT_METRIC, FALLBACK_METRIC, RunRecord, make_report
from genpolicy.experiments.report.runs import (
    embedded_runs,
    read_results,
    run_folders,
    run_name,
    summary_file,
)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="tables and learning curves from a folder of run folders",
        description="Read every run folder (config.yaml + metrics.jsonl) under DIR and write "
        "report.md with learning curves, last/best and fixed-update tables, training speed "
        "and (toy bandit) action pictures, plus results.json (which keeps every run's "
        "evaluations) and results.csv. DIR may instead be such a results.json, or a folder "
        "holding report/results.json: the report is made again from the runs it keeps.",
    )
    p.add_argument(
        "dir", help="folder searched recursively for run folders (e.g. runs/), or results.json"
    )
    p.add_argument(
        "--out",
        default=None,
        help="output folder (default: DIR/report; for a results.json, its folder)",
    )
    p.add_argument(
        "--metric",
        default=None,
        help=f"eval metric to tabulate (default: {DEFAULT_METRIC}, or the metric of the "
        f"results.json given; {FALLBACK_METRIC} is used for a dataset where it is null in "
        "every run)",
    )
    p.add_argument(
        "--title", default=None, help="report title (default: that of the results.json given)"
    )
    p.add_argument(
        "--keep",
        action="store_true",
        help="keep the finished runs that the earlier OUT/results.json holds and that have no "
        "folder under DIR (run folders deleted, or trained on another machine)",
    )
    p.set_defaults(func=_report)


def _report(args: argparse.Namespace) -> int:
    kept = _earlier_runs(Path(args.dir), args.out)
    if kept and not args.keep:
        names = ", ".join(r.name for r in kept[:5]) + (", ..." if len(kept) > 5 else "")
        print(
            f"genpolicy report: {len(kept)} finished run(s) of the earlier report have no folder "
            f"under {args.dir} and are left out ({names}); --keep keeps them",
            file=sys.stderr,
        )
    md = make_report(args.dir, args.out, args.metric, args.title, kept=kept if args.keep else ())
    print(md)
    return 0


def _earlier_runs(root: Path, out: str | None) -> list[RunRecord]:
    """The finished runs of the results.json the report is about to replace whose folders
    are not under ``root`` (none when ``root`` is itself a results.json)."""
    if summary_file(root) is not None:
        return []
    earlier = Path(out) / "results.json" if out else root / "report" / "results.json"
    if not earlier.is_file():
        return []
    try:
        runs = embedded_runs(read_results(earlier), earlier)
    except GenpolicyError:
        return []  # an unreadable earlier report is replaced, as before
    present = {run_name(root, d) for d in run_folders(root)} if root.is_dir() else set()
    return [r for r in runs if r.finished and r.name not in present]
