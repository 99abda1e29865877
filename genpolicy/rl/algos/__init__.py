"""Offline RL algorithms; each file is a config dataclass, its losses and ``act``."""

from __future__ import annotations

from typing import Any

from genpolicy.errors import unknown_name
from genpolicy.generative.models import ModelConfig, require_capabilities
from genpolicy.rl.algos.acting import ActConfig
from genpolicy.rl.algos.base import Algorithm
from genpolicy.rl.algos.bc import BC, BCConfig, GaussianBC, GenerativeBC
from genpolicy.rl.algos.dql import DQL, DQLConfig
from genpolicy.rl.algos.fql import FQL, FQLConfig
from genpolicy.rl.algos.gmpg import GMPG, GMPGConfig
from genpolicy.rl.algos.gmpo import GMPO, GMPOConfig
from genpolicy.rl.algos.gtp import GTP, GTPConfig
from genpolicy.rl.algos.idql import IDQL, IDQLConfig
from genpolicy.rl.algos.iql import IQL, IQLConfig
from genpolicy.rl.algos.qgpo import QGPO, QGPOConfig
from genpolicy.rl.algos.srpo import SRPO, SRPOConfig

ALGORITHMS: dict[str, tuple[type[Algorithm], type[Any]]] = {
    "bc": (BC, BCConfig),
    "iql": (IQL, IQLConfig),
    "gmpo": (GMPO, GMPOConfig),
    "gmpg": (GMPG, GMPGConfig),
    "gtp": (GTP, GTPConfig),
    "qgpo": (QGPO, QGPOConfig),
    "srpo": (SRPO, SRPOConfig),
    "fql": (FQL, FQLConfig),
    "idql": (IDQL, IDQLConfig),
    "dql": (DQL, DQLConfig),
}


def algo_config_class(name: str) -> type[Any]:
    if name not in ALGORITHMS:
        raise unknown_name("algorithm", name, ALGORITHMS)
    return ALGORITHMS[name][1]


def algorithm_class(algo_cfg: Any) -> type[Algorithm]:
    """The class that builds ``algo_cfg`` (``algo.name``, then the class's own dispatch,
    e.g. BC's ``algo.policy``)."""
    if algo_cfg.name not in ALGORITHMS:
        raise unknown_name("algorithm", algo_cfg.name, ALGORITHMS)
    return ALGORITHMS[algo_cfg.name][0].for_config(algo_cfg)


def check_model(algo_cfg: Any, model_cfg: ModelConfig) -> None:
    """Raise a one-line ``GenpolicyError`` if the model lacks a capability the algorithm
    ``requires`` (the one check; config validation and ``build_algorithm`` both call it)."""
    require_capabilities(model_cfg, algorithm_class(algo_cfg).requires, algo=algo_cfg.name)


def build_algorithm(
    algo_cfg: Any, model_cfg: Any, critic_cfg: Any, obs_dim: int, act_dim: int, device: str
) -> Algorithm:
    """The algorithm that ``algo_cfg.name`` names, with freshly initialised networks."""
    cls = algorithm_class(algo_cfg)
    check_model(algo_cfg, model_cfg)
    return cls(algo_cfg, model_cfg, critic_cfg, obs_dim, act_dim, device)  # Algorithm.__init__


__all__ = [
    "ALGORITHMS",
    "BC",
    "FQL",
    "DQL",
    "GMPG",
    "GMPO",
    "GTP",
    "IDQL",
    "IQL",
    "QGPO",
    "SRPO",
    "ActConfig",
    "Algorithm",
    "BCConfig",
    "FQLConfig",
    "DQLConfig",
    "GaussianBC",
    "GenerativeBC",
    "GMPGConfig",
    "GMPOConfig",
    "GTPConfig",
    "IDQLConfig",
    "IQLConfig",
    "QGPOConfig",
    "SRPOConfig",
    "algo_config_class",
    "algorithm_class",
    "build_algorithm",
    "check_model",
]
