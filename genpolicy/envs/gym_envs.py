"""Gymnasium environments for evaluation and data collection (optional extra ``envs``).

``make_env`` / ``make_vector_env`` seed the environment (``reset(seed=...)`` once, and the
action space), so a following plain ``reset()`` continues a deterministic sequence.

Ids of the form ``module:Env-v0`` (Gymnasium's convention for an environment that a module
registers on import) work everywhere: the module is imported before the registry is read.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from genpolicy.envs.registry import task_of
from genpolicy.errors import GenpolicyError, missing_extra, unknown_name

ENV_IDS: dict[str, str] = {
    "halfcheetah": "HalfCheetah-v5",
    "hopper": "Hopper-v5",
    "walker2d": "Walker2d-v5",
    "ant": "Ant-v5",
}


def _gym() -> Any:
    try:
        import gymnasium
    except ModuleNotFoundError:
        raise missing_extra("gymnasium", "envs") from None
    return gymnasium


MAZE_PREFIX = "genpolicy/"  # AntMaze / PointMaze ids (genpolicy.envs.mazes.MAZE_ENV_IDS)


def registry_id(env_id: str) -> str:
    """The registry id of ``env_id``, importing the module of a ``module:Env-v0`` id first
    (as ``gymnasium.make`` does) so that its registration has run."""
    if env_id.startswith(MAZE_PREFIX):
        from genpolicy.envs.mazes import register_maze_envs

        register_maze_envs()  # a no-op without gymnasium-robotics (the id stays unknown)
    if ":" not in env_id:
        return env_id
    module, name = env_id.split(":", 1)
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise GenpolicyError(
            f"environment {env_id!r}: cannot import module {module!r} ({exc}); make it "
            "importable (install it or add its folder to PYTHONPATH)"
        ) from None
    return name


def guess_env_id(name: str) -> str | None:
    """The Gymnasium id for a task or dataset name ('hopper-medium-v2' -> 'Hopper-v5')."""
    if name in ENV_IDS.values() or ":" in name:  # a Gymnasium id ('module:Env-v0' too)
        return name
    from genpolicy.envs.mazes import MAZE_ENV_IDS, guess_maze_env_id

    if name in MAZE_ENV_IDS:
        return name
    maze = guess_maze_env_id(name)  # before task_of: 'antmaze-*' is no Ant-v5
    if maze is not None:
        return maze
    task = task_of(name)
    return ENV_IDS.get(task) if task else None


def env_id_for(name: str) -> str:
    """Like :func:`guess_env_id`, but raises for names it does not know."""
    env_id = guess_env_id(name)
    if env_id is None:
        env = name.split(":", 1)[-1]
        if "-v" in env and env[:1].isupper():  # already a Gymnasium id
            return name
        raise unknown_name("environment", name, list(ENV_IDS) + list(ENV_IDS.values()))
    return env_id


def _require_extra(env_id: str) -> None:
    if env_id.startswith(MAZE_PREFIX):
        from genpolicy.envs.mazes import require_maze_env

        require_maze_env(env_id)


def make_env(env_id: str, seed: int | None = None, **kwargs: Any) -> Any:
    """One Gymnasium environment, reset once with ``seed``."""
    gym = _gym()
    _require_extra(env_id)
    registry_id(env_id)
    try:
        env = gym.make(env_id, **kwargs)
    except gym.error.Error as exc:
        raise GenpolicyError(f"cannot make environment {env_id!r}: {exc}") from None
    env.reset(seed=seed)
    env.action_space.seed(seed)
    return env


def make_vector_env(env_id: str, n: int, seed: int | None = None, **kwargs: Any) -> Any:
    """``n`` synchronous copies (sub-environment i seeded with ``seed + i``)."""
    gym = _gym()
    _require_extra(env_id)
    registry_id(env_id)
    try:
        env = gym.make_vec(env_id, num_envs=n, vectorization_mode="sync", **kwargs)
    except gym.error.Error as exc:
        raise GenpolicyError(f"cannot make environment {env_id!r}: {exc}") from None
    env.reset(seed=seed)
    env.action_space.seed(seed)
    return env


@dataclass(frozen=True)
class EnvSpaces:
    obs_dim: int
    act_low: np.ndarray
    act_high: np.ndarray
    max_episode_steps: int | None


@lru_cache(maxsize=16)
def env_spaces(env_id: str) -> EnvSpaces | None:
    """Observation size, action bounds and time limit of ``env_id``; None if it is not
    registered (or Gymnasium is not installed). A ``module:Env-v0`` id imports its module
    first (an unimportable module is an error)."""
    try:
        gym = _gym()
    except GenpolicyError:
        return None
    if registry_id(env_id) not in gym.envs.registry:
        return None
    env = gym.make(env_id)
    try:
        space = env.action_space
        return EnvSpaces(
            obs_dim=int(np.prod(env.observation_space.shape)),
            act_low=np.asarray(space.low, dtype=np.float32),
            act_high=np.asarray(space.high, dtype=np.float32),
            max_episode_steps=env.spec.max_episode_steps if env.spec else None,
        )
    finally:
        env.close()


def check_dims(env_id: str, obs_dim: int, act_dim: int, where: str, fix: str) -> None:
    """Raise a one-line error if Gymnasium environment ``env_id`` does not take a policy's
    observations and actions (sizes ``obs_dim`` and ``act_dim``); ``where`` names the
    setting, ``fix`` says what to do. A built-in environment is checked by its observations;
    ids that are neither are not checked."""
    spaces = env_spaces(env_id)
    if spaces is not None:
        env_obs, env_act = spaces.obs_dim, int(np.prod(spaces.act_low.shape))
        if (env_obs, env_act) != (obs_dim, act_dim):
            raise GenpolicyError(
                f"{where}: {env_id} has {env_obs}-dim observations and {env_act}-dim "
                f"actions, the policy {obs_dim} and {act_dim}; {fix}"
            )
        return
    from genpolicy.envs.builtin import builtin_env

    entry = builtin_env(env_id)
    if entry is not None:
        env_obs = int(np.asarray(entry.make(1, 0).reset(seed=0)[0]).shape[-1])
        if env_obs != obs_dim:
            raise GenpolicyError(
                f"{where}: {env_id} has {env_obs}-dim observations, the policy {obs_dim}; {fix}"
            )
