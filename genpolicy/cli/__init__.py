"""The ``genpolicy`` command line.

Each sub-command lives in its own module that exposes ``add_parser(subparsers)``; the
parser it adds sets ``func`` (called with the parsed namespace, returning an exit code).
Modules are imported lazily so that ``genpolicy --help`` stays fast and a missing optional
package only affects the sub-command that needs it.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from genpolicy.errors import GenpolicyError

# module path for each group of sub-commands; each module defines add_parser(subparsers)
COMMAND_MODULES: tuple[str, ...] = (
    "genpolicy.cli.demo",
    "genpolicy.cli.dataset",
    "genpolicy.cli.configs",
    "genpolicy.cli.train",
    "genpolicy.cli.evaluate",
    "genpolicy.cli.bench",
    "genpolicy.cli.sweep",
    "genpolicy.cli.report",
    "genpolicy.cli.tables",
    "genpolicy.cli.loglik",
    "genpolicy.cli.maze_plot",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genpolicy", description="Offline RL with generative policies."
    )
    from genpolicy import __version__

    parser.add_argument("--version", action="version", version=f"genpolicy {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # that command group is not part of this build yet
                continue
            raise
        module.add_parser(sub)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the command was (training handles it itself: checkpoint, stop)."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)  # stop like Ctrl-C, rc 143
    try:
        return int(args.func(args) or 0)
    except GenpolicyError as exc:
        print(f"genpolicy: error: {exc}", file=sys.stderr)
        return 2
    except Terminated:
        print("genpolicy: terminated (SIGTERM)", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("genpolicy: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
