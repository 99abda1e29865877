"""The configs shipped inside the package (``genpolicy/configs/``), found by name.

A name is a config's path below ``genpolicy/configs`` without ``.yaml``: an algorithm's
default (``gmpo``), a built-in toy (``default``, ``toy-gmpo``), a published per-dataset
setting (``published/gmpo/vp/hopper-medium``) or a benchmark's CPU config
(``cpu/hopper-medium-gmpo``). Names resolve from the installed package, whatever the current
directory.
"""

from __future__ import annotations

from pathlib import Path

CONFIG_ROOT = Path(__file__).resolve().parent.parent / "configs"
SUFFIX = ".yaml"
PUBLISHED = "published"  # the folder of the settings a paper or its authors' code published

_LOCOMOTION = [
    f"{task}-{kind}"
    for task in ("halfcheetah", "hopper", "walker2d")
    for kind in ("medium", "medium-replay", "medium-expert")
]
_ANTMAZE = [
    f"antmaze-{m}"
    for m in (
        "umaze",
        "umaze-diverse",
        "medium-play",
        "medium-diverse",
        "large-play",
        "large-diverse",
    )
]
_POINTMAZE = [f"pointmaze-{m}" for m in ("umaze", "medium", "large")]
_GTP_KEPT = (
    "hopper-medium",
    "halfcheetah-medium",
    "hopper-medium-replay",
    "halfcheetah-medium-replay",
)
# per-dataset configs that no longer ship (nobody published their settings and no benchmark
# trains from them), each with the algorithm whose default replaces it
REMOVED: dict[str, str] = {
    **{f"bc/{d}": "bc" for d in _LOCOMOTION},
    **{f"fql/{d}": "fql" for d in _LOCOMOTION},
    **{f"gtp/{d}": "gtp" for d in _LOCOMOTION if d not in _GTP_KEPT},
    **{f"gtp/{d}": "gtp" for d in _ANTMAZE + _POINTMAZE},
    **{f"gmpg/gvp/{d}": "gmpg" for d in _ANTMAZE + _POINTMAZE},
    **{f"gmpo/gvp/{d}": "gmpo" for d in _POINTMAZE},
    **{f"iql/{d}": "iql" for d in _POINTMAZE},
    "cpu/pointmaze-medium-gmpg": "gmpg",
}


def config_names() -> list[str]:
    """Every shipped config name, sorted (built-in toy configs first: they have no folder)."""
    names = [p.relative_to(CONFIG_ROOT).with_suffix("").as_posix() for p in _files()]
    return sorted(names, key=lambda n: ("/" in n, n))


def _is_toy(name: str) -> bool:
    return name == "default" or name.startswith("toy-")


def builtin_names() -> list[str]:
    """The names of the built-in toy configs (those that need no dataset file)."""
    return [n for n in config_names() if _is_toy(n)]


def default_names() -> list[str]:
    """The algorithms whose default config is shipped: ``genpolicy train NAME`` trains it."""
    return [n for n in config_names() if "/" not in n and not _is_toy(n)]


def find_config(name: str) -> Path | None:
    """The shipped file that ``name`` names (with or without ``.yaml``), else None."""
    rel = _strip(name)
    if not rel or rel.startswith(("/", ".")) or "\\" in rel:
        return None
    path = CONFIG_ROOT / f"{rel}{SUFFIX}"
    return path if path.is_file() else None


def moved_to(name: str) -> str | None:
    """The name a published per-dataset config now has (``gmpo/vp/hopper-medium`` ->
    ``published/gmpo/vp/hopper-medium``), or None when ``name`` did not move."""
    rel = _strip(name)
    if "/" not in rel or rel.startswith(f"{PUBLISHED}/"):
        return None
    new = f"{PUBLISHED}/{rel}"
    return new if find_config(new) is not None else None


def removed_for(name: str) -> str | None:
    """The algorithm of a per-dataset config that no longer ships, else None."""
    return REMOVED.get(_strip(name))


def _strip(name: str) -> str:
    return name[: -len(SUFFIX)] if name.endswith(SUFFIX) else name


def _files() -> list[Path]:
    return [p for p in CONFIG_ROOT.rglob(f"*{SUFFIX}") if p.is_file()]
