"""genpolicy: offline reinforcement learning with generative policies.

The public API, one import away (loaded on first use, so ``import genpolicy`` stays cheap):

    import genpolicy

    cfg = genpolicy.create("default", {"train.steps": 500})    # a shipped config + overrides
    result = genpolicy.fit(cfg)                                # train; a run folder on disk
    policy = genpolicy.load_policy(result.run_dir)             # a trained policy, ready to act
    action = policy.act(obs)                                   # numpy in, numpy out

    model = genpolicy.build_model(genpolicy.ModelConfig(kind="flow", path="linear"), 6, 17)
    data = genpolicy.load_dataset("datasets/hopper-medium-v5.hdf5")

The layers below are subpackages: ``genpolicy.generative`` (paths, networks, solvers,
models), ``genpolicy.rl`` (critics, algorithms), ``genpolicy.data`` (datasets, readers,
writers, making datasets), ``genpolicy.envs`` (tasks, evaluation, mazes, toy tasks),
``genpolicy.training`` (configs, the training loop, checkpoints), ``genpolicy.experiments``
(sweeps and reports) and ``genpolicy.cli``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from genpolicy.errors import GenpolicyError

__version__ = "0.1.0"

# public name -> the module that defines it
_API: dict[str, str] = {
    "ModelConfig": "genpolicy.generative.models",
    "build_model": "genpolicy.generative.models",
    "ALGORITHMS": "genpolicy.rl.algos",
    "Algorithm": "genpolicy.rl.algos",
    "build_algorithm": "genpolicy.rl.algos",
    "OfflineDataset": "genpolicy.data",
    "load_dataset": "genpolicy.data",
    "RunConfig": "genpolicy.training.config",
    "create": "genpolicy.training.config",
    "load_config": "genpolicy.training.config",
    "config_names": "genpolicy.training.shipped",
    "fit": "genpolicy.training.trainer",
    "FitResult": "genpolicy.training.trainer",
    "fit_population": "genpolicy.training.population",
    "load_policy": "genpolicy.training.policy",
    "evaluate_policy": "genpolicy.training.policy",
}

if TYPE_CHECKING:
    from genpolicy.data import OfflineDataset, load_dataset  # noqa: F401
    from genpolicy.generative.models import ModelConfig, build_model  # noqa: F401
    from genpolicy.rl.algos import ALGORITHMS, Algorithm, build_algorithm  # noqa: F401
    from genpolicy.training.config import RunConfig, create, load_config  # noqa: F401
    from genpolicy.training.policy import evaluate_policy, load_policy  # noqa: F401
    from genpolicy.training.population import fit_population  # noqa: F401
    from genpolicy.training.shipped import config_names  # noqa: F401
    from genpolicy.training.trainer import FitResult, fit  # noqa: F401


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'genpolicy' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = ["GenpolicyError", "__version__", *_API]
