"""Policy evaluation on vectorised environments: raw and D4RL-normalised returns.

Every episode runs in its own sub-environment (``episodes`` copies stepped together, so a
policy acts on a batch of observations per step); each copy's first episode counts.
Seeds come from the evaluation seed only, so evaluating never changes training.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from genpolicy.envs.builtin import builtin_dataset, builtin_env
from genpolicy.errors import GenpolicyError

MAX_PARALLEL = 50  # sub-environments stepped together


@dataclass
class EvalResult:
    episodes: int
    return_mean: float
    return_std: float
    score_mean: float | None  # D4RL-normalised (toy bandit: 100 * mean reward)
    score_std: float | None
    seconds: float
    # share of episodes that reached the goal (environments that report info["success"],
    # e.g. AntMaze / PointMaze); None elsewhere, and then left out of to_dict()
    success_rate: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["success_rate"] is None:
            del d["success_rate"]
        return d


def make_eval_env(env_id: str, n: int, seed: int) -> Any:
    builtin = builtin_env(env_id)
    if builtin is not None:
        return builtin.make(n, seed)
    from genpolicy.envs.gym_envs import make_vector_env

    return make_vector_env(env_id, n, seed)


def score_task(env_id: str | None, dataset: str | None = None) -> str | None:
    """The task that normalises a run's scores: the environment's D4RL task first, the
    dataset name's (whole tokens) only as a fallback; a built-in environment (the toy
    bandit) is its own task."""
    if builtin_env(env_id) is not None:
        return env_id
    data = builtin_dataset(dataset) if not env_id else None
    if data is not None and builtin_env(data.env_id) is not None:
        return data.env_id
    from genpolicy.envs.registry import task_for

    return task_for(env_id, dataset)


def normalize(task: str | None, returns: np.ndarray) -> np.ndarray | None:
    if not task:
        return None
    builtin = builtin_env(task)
    if builtin is not None:
        return builtin.normalize(returns)
    from genpolicy.envs.registry import normalized_score, task_of

    if task_of(task) is None:
        return None
    return np.asarray(normalized_score(task, returns), dtype=np.float64)


def run_episodes(
    act: Callable[[np.ndarray], np.ndarray], env_id: str, episodes: int, seed: int
) -> np.ndarray:
    """Undiscounted returns of ``episodes`` episodes, in chunks of MAX_PARALLEL copies."""
    return run_episodes_with_success(act, env_id, episodes, seed)[0]


def _success(info: Any, n: int) -> np.ndarray | None:
    if not isinstance(info, dict) or "success" not in info:
        return None
    val = np.asarray(info["success"]).astype(bool).reshape(-1)
    mask = np.asarray(info.get("_success", np.ones(n, bool))).astype(bool).reshape(-1)
    return val & mask if len(val) == n else None


def run_episodes_with_success(
    act: Callable[[np.ndarray], np.ndarray], env_id: str, episodes: int, seed: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """Returns and, where the environment reports ``info["success"]``, whether each episode
    was at the goal at any step (None otherwise)."""
    if episodes < 1:
        raise GenpolicyError(f"episodes must be >= 1, got {episodes}")
    out: list[np.ndarray] = []
    wins: list[np.ndarray] = []
    reports = True
    done_so_far = 0
    while done_so_far < episodes:
        n = min(MAX_PARALLEL, episodes - done_so_far)
        env = make_eval_env(env_id, n, seed + done_so_far)
        try:
            obs, _ = env.reset(seed=seed + done_so_far)
            returns = np.zeros(n)
            won = np.zeros(n, dtype=bool)
            alive = np.ones(n, dtype=bool)
            while alive.any():
                obs, rew, term, trunc, info = env.step(act(np.asarray(obs, dtype=np.float32)))
                returns += np.where(alive, rew, 0.0)
                succ = _success(info, n)
                if succ is None:
                    reports = False
                else:
                    won |= succ & alive
                alive &= ~(np.asarray(term) | np.asarray(trunc))
        finally:
            env.close()
        out.append(returns)
        wins.append(won)
        done_so_far += n
    return np.concatenate(out), (np.concatenate(wins) if reports else None)


def evaluate(
    act: Callable[[np.ndarray], np.ndarray],
    env_id: str,
    episodes: int,
    seed: int,
    task: str | None,
) -> EvalResult:
    """Run episodes and summarise; ``task`` names the score normalisation (a task such as
    'hopper', see :func:`score_task`; None: raw returns only)."""
    t0 = time.perf_counter()
    returns, wins = run_episodes_with_success(act, env_id, episodes, seed)
    scores = normalize(task, returns)
    return EvalResult(
        episodes=len(returns),
        return_mean=float(returns.mean()),
        return_std=float(returns.std()),
        score_mean=None if scores is None else float(scores.mean()),
        score_std=None if scores is None else float(scores.std()),
        seconds=time.perf_counter() - t0,
        success_rate=None if wins is None else float(wins.mean()),
    )
