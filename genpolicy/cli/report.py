"""``genpolicy report DIR``: tables and learning curves from a folder of run folders, or
again from a report's results.json."""

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
    p.set_defaults(func=_report)


def _report(args: argparse.Namespace) -> int:
    md = make_report(args.dir, args.out, args.metric, args.title)
    print(md)
    return 0
