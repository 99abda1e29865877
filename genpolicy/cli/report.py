"""``genpolicy report DIR``: tables and learning curves from a folder of run folders."""

from __future__ import annotations

import argparse
from typing import Any

from genpolicy.experiments.report import DEFAULT_METRIC, FALLBACK_METRIC, make_report


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="tables and learning curves from a folder of run folders",
        description="Read every run folder (config.yaml + metrics.jsonl) under DIR and write "
        "report.md with learning curves, last/best and fixed-update tables, training speed "
        "and (toy bandit) action pictures, plus results.json and results.csv.",
    )
    p.add_argument("dir", help="folder searched recursively for run folders (e.g. runs/)")
    p.add_argument("--out", default=None, help="output folder (default: DIR/report)")
    p.add_argument(
        "--metric",
        default=DEFAULT_METRIC,
        help=f"eval metric to tabulate (default: {DEFAULT_METRIC}; {FALLBACK_METRIC} is used "
        "for a dataset where it is null in every run)",
    )
    p.add_argument("--title", default=None, help="report title")
    p.set_defaults(func=_report)


def _report(args: argparse.Namespace) -> int:
    md = make_report(args.dir, args.out, args.metric, args.title)
    print(md)
    return 0
