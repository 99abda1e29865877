"""``genpolicy tables``: Markdown tables for README and docs from committed results."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from genpolicy.errors import GenpolicyError
from genpolicy.experiments.report.tables import table_text, update


def add_parser(sub: Any) -> None:
    ap = sub.add_parser(
        "tables",
        help="Markdown tables for the docs from report results",
        description="Render Markdown tables from `genpolicy report` results (results.json), "
        "and with --name/--update replace the block between <!-- results:NAME --> and "
        "<!-- /results:NAME --> in the given files.",
    )
    ap.add_argument(
        "results",
        nargs="+",
        help="results.json files written by genpolicy report, or one folder of run folders "
        "(the algorithm comparison)",
    )
    ap.add_argument(
        "--steps", default="", help="update counts, e.g. 5000,10000,20000 (default: last)"
    )
    ap.add_argument("--datasets", default="", help="comma-separated datasets (default: all)")
    ap.add_argument(
        "--groups", default="", help="rows to show, comma-separated (default: every group)"
    )
    ap.add_argument("--act-speed", default="", help="comparison: benchmarks/act_speed.py's JSON")
    ap.add_argument(
        "--target",
        default="",
        help="a reference group (e.g. iql): each group's mean over the datasets at --steps "
        "and its difference from this group's",
    )
    ap.add_argument("--digits", type=int, default=1, help="decimals of grid-table cells")
    ap.add_argument("--name", default="", help="block name for --update")
    ap.add_argument("--update", nargs="*", default=[], help="files whose block to replace")
    ap.set_defaults(func=_tables)


def _tables(args: argparse.Namespace) -> int:
    if args.update and not args.name:
        raise GenpolicyError("--update needs --name")
    for f in args.update:  # every file first: none is changed unless all can be
        update(Path(f), args.name, None)
    text = table_text(args)
    for f in args.update:
        update(Path(f), args.name, text)
    print(text)
    return 0
