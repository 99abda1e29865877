"""The configs shipped inside the package (``genpolicy/configs/``), found by name.

A name is a config's path below ``genpolicy/configs`` without ``.yaml``: an algorithm's
default (``gmpo``), a built-in toy (``default``, ``toy-gmpo``), a published setting
(``gmpo/vp/hopper-medium``) or a benchmark's CPU config (``cpu/hopper-medium-gmpo``). Names
resolve from the installed package, whatever the current directory.
"""

from __future__ import annotations

from pathlib import Path

CONFIG_ROOT = Path(__file__).resolve().parent.parent / "configs"
SUFFIX = ".yaml"


def config_names() -> list[str]:
    """Every shipped config name, sorted (built-in toy configs first: they have no folder)."""
    names = [p.relative_to(CONFIG_ROOT).with_suffix("").as_posix() for p in _files()]
    return sorted(names, key=lambda n: ("/" in n, n))


def builtin_names() -> list[str]:
    """The names of the built-in toy configs (those that need no dataset file)."""
    return [n for n in config_names() if n == "default" or n.startswith("toy-")]


def default_names() -> list[str]:
    """The algorithms whose default config is shipped: ``genpolicy train NAME`` trains it."""
    return [n for n in config_names() if "/" not in n and n not in builtin_names()]


def find_config(name: str) -> Path | None:
    """The shipped file that ``name`` names (with or without ``.yaml``), else None."""
    rel = name[: -len(SUFFIX)] if name.endswith(SUFFIX) else name
    if not rel or rel.startswith(("/", ".")) or "\\" in rel:
        return None
    path = CONFIG_ROOT / f"{rel}{SUFFIX}"
    return path if path.is_file() else None


def _files() -> list[Path]:
    return [p for p in CONFIG_ROOT.rglob(f"*{SUFFIX}") if p.is_file()]
