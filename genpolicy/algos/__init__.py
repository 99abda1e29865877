"""Offline RL algorithms; each file is a config dataclass, its losses and ``act``."""

from __future__ import annotations

from typing import Any

from genpolicy.algos.base import ActConfig, Algorithm
from genpolicy.algos.bc import BC, BCConfig
from genpolicy.algos.gmpg import GMPG, GMPGConfig
from genpolicy.algos.gmpo import GMPO, GMPOConfig
from genpolicy.algos.gtp import GTP, GTPConfig
from genpolicy.algos.iql import IQL, IQLConfig
from genpolicy.errors import unknown_name

ALGORITHMS: dict[str, tuple[type[Algorithm], type[Any]]] = {
    "bc": (BC, BCConfig),
    "iql": (IQL, IQLConfig),
    "gmpo": (GMPO, GMPOConfig),
    "gmpg": (GMPG, GMPGConfig),
    "gtp": (GTP, GTPConfig),
}


def algo_config_class(name: str) -> type[Any]:
    if name not in ALGORITHMS:
        raise unknown_name("algorithm", name, ALGORITHMS)
    return ALGORITHMS[name][1]


def build_algorithm(
    algo_cfg: Any, model_cfg: Any, critic_cfg: Any, obs_dim: int, act_dim: int, device: str
) -> Algorithm:
    """The algorithm that ``algo_cfg.name`` names, with freshly initialised networks."""
    if algo_cfg.name not in ALGORITHMS:
        raise unknown_name("algorithm", algo_cfg.name, ALGORITHMS)
    cls: Any = ALGORITHMS[algo_cfg.name][0]  # every subclass takes these six arguments
    algo: Algorithm = cls(algo_cfg, model_cfg, critic_cfg, obs_dim, act_dim, device)
    return algo


__all__ = [
    "ALGORITHMS",
    "BC",
    "GMPG",
    "GMPO",
    "GTP",
    "IQL",
    "ActConfig",
    "Algorithm",
    "BCConfig",
    "GMPGConfig",
    "GMPOConfig",
    "GTPConfig",
    "IQLConfig",
    "algo_config_class",
    "build_algorithm",
]
