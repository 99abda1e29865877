"""A run's data and evaluation environment: the dataset its config names and the
environment it is evaluated on, checked before training starts."""

from __future__ import annotations

import importlib.util
from typing import Any

from genpolicy.envs.builtin import builtin_dataset, builtin_env
from genpolicy.errors import GenpolicyError
from genpolicy.training.config import RunConfig
from genpolicy.training.run_dir import warn


def load_data(cfg: RunConfig) -> Any:
    """The training dataset that ``cfg.data`` names (a built-in one, e.g. the toy bandit,
    or a file / suite name / Minari id)."""
    d = cfg.data
    builtin = builtin_dataset(d.dataset)
    if builtin is not None:
        return builtin.make(cfg.train.device)
    from genpolicy.data import load_dataset

    return load_dataset(
        d.dataset,
        device=cfg.train.device,
        reward_convention=d.reward_convention,
        normalize_obs=d.normalize_obs,
        env_id=d.env_id,
    )


def eval_env_id(cfg: RunConfig, dataset: Any) -> str | None:
    builtin = builtin_dataset(cfg.data.dataset)
    if builtin is not None and builtin.env_id:
        return builtin.env_id
    if cfg.data.env_id:
        return cfg.data.env_id
    if getattr(dataset, "env_id", None):
        return str(dataset.env_id)
    from genpolicy.envs.gym_envs import guess_env_id

    return guess_env_id(dataset.name)


def evaluation_env(cfg: RunConfig, dataset: Any) -> str | None:
    """The environment a run evaluates on (None: training without evaluation, with a one-line
    warning saying why), made once now so that a wrong id fails before the first update."""
    builtin = builtin_dataset(cfg.data.dataset)
    if builtin is not None and cfg.data.env_id and cfg.data.env_id != builtin.env_id:
        raise GenpolicyError(
            f"data.env_id={cfg.data.env_id!r} does not apply to the built-in dataset "
            f"{cfg.data.dataset!r} (evaluated on {builtin.env_id!r}); drop data.env_id"
        )
    env_id = eval_env_id(cfg, dataset)
    gym_env = env_id is not None and builtin_env(env_id) is None
    if gym_env and importlib.util.find_spec("gymnasium") is None:
        warn(
            "gymnasium is not installed: training without evaluation "
            "(pip install -c constraints.txt 'genpolicy[envs]')"
        )
        env_id = None
    elif env_id is None:
        warn(
            f"dataset {getattr(dataset, 'name', cfg.data.dataset)!r} names no "
            "environment: training without evaluation; set data.env_id=ENV_ID to evaluate"
        )
    else:
        _check_env(cfg, env_id)
    return env_id


def _check_env(cfg: RunConfig, env_id: str) -> None:
    """Make the evaluation environment once now, so a wrong id fails before training."""
    if builtin_env(env_id) is not None:
        return
    where = (
        f"data.env_id={env_id!r}"
        if cfg.data.env_id
        else f"environment {env_id!r} (named by the dataset)"
    )
    from genpolicy.envs.gym_envs import make_env

    try:
        make_env(env_id, seed=0).close()
    except GenpolicyError as exc:
        raise GenpolicyError(
            f"{where} cannot be made for evaluation ({str(exc).rstrip('.')}); set data.env_id "
            "to an installed environment"
        ) from None
