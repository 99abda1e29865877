"""``genpolicy configs [NAME]``: the shipped config names, or one config resolved."""

from __future__ import annotations

import argparse
from typing import Any

from genpolicy.cli.train import add_set_argument


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "configs",
        help="list the shipped configs, or print one resolved",
        description="Without NAME, list every shipped config name (usable anywhere as "
        "`genpolicy train NAME`). With NAME (or a config file), print the config with every "
        "default filled in and the overrides applied.",
    )
    p.add_argument("name", nargs="?", default=None, help="a shipped config name or a file")
    add_set_argument(p)
    p.set_defaults(func=_configs)


def _configs(args: argparse.Namespace) -> int:
    if args.name is None:
        from genpolicy.training.shipped import config_names

        if args.overrides:
            from genpolicy.errors import GenpolicyError

            raise GenpolicyError("--set needs a config NAME to apply to")
        print("\n".join(config_names()))
        return 0
    import yaml

    from genpolicy.training.config import load

    cfg = load(args.name, args.overrides)
    print(yaml.safe_dump(cfg.to_dict(), sort_keys=False), end="")
    return 0
