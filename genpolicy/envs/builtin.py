"""Built-in datasets and evaluation environments, registered by name.

A registered dataset is what ``data.dataset: <name>`` loads, and names the environment it
is evaluated on; a registered environment makes its vectorised copies and is its own
score task (``normalize``: returns -> scores). The trainer, the evaluation and the config
look names up here instead of testing for them. The toy bandit (``genpolicy.envs.toy_bandit``)
registers both under ``toy-bandit``:

    register_dataset(BuiltinDataset("toy-bandit", make_dataset, env_id="toy-bandit"))
    register_env(BuiltinEnv("toy-bandit", ToyBanditVectorEnv, normalize))
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from genpolicy.errors import GenpolicyError

# modules that register built-ins when imported (imported on the first lookup)
BUILTIN_MODULES = ("genpolicy.envs.toy_bandit",)


@dataclass(frozen=True)
class BuiltinDataset:
    name: str
    make: Callable[[str], Any]  # device -> OfflineDataset
    env_id: str | None = None  # the environment it is evaluated on


@dataclass(frozen=True)
class BuiltinEnv:
    name: str
    make: Callable[[int, int], Any]  # (copies, seed) -> a Gymnasium-style vector env
    normalize: Callable[[np.ndarray], np.ndarray]  # episode returns -> normalised scores


DATASETS: dict[str, BuiltinDataset] = {}
ENVS: dict[str, BuiltinEnv] = {}
_loaded = False


def register_dataset(entry: BuiltinDataset) -> None:
    _register(DATASETS, entry, "dataset")


def register_env(entry: BuiltinEnv) -> None:
    _register(ENVS, entry, "environment")


def _register(table: dict[str, Any], entry: Any, what: str) -> None:
    old = table.get(entry.name)
    if old is not None and old != entry:
        raise GenpolicyError(f"built-in {what} {entry.name!r} is registered twice; rename one")
    table[entry.name] = entry


def _load() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for module in BUILTIN_MODULES:
            importlib.import_module(module)


def builtin_dataset(name: str | None) -> BuiltinDataset | None:
    """The built-in dataset called ``name``, or None (a file, suite name, Minari id...)."""
    _load()
    return DATASETS.get(name) if name else None


def builtin_env(name: str | None) -> BuiltinEnv | None:
    """The built-in environment called ``name``, or None (a Gymnasium id)."""
    _load()
    return ENVS.get(name) if name else None
