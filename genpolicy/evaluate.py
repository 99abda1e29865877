"""Policy evaluation on vectorised environments: raw and D4RL-normalised returns.

Every episode runs in its own sub-environment (``episodes`` copies stepped together, so a
policy acts on a batch of observations per step); each copy's first episode counts.
Seeds come from the evaluation seed only, so evaluating never changes training.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genpolicy.builtins import builtin_dataset, builtin_env
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
    from genpolicy.envs import make_vector_env

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
    from genpolicy.scores import task_for

    return task_for(env_id, dataset)


def normalize(task: str | None, returns: np.ndarray) -> np.ndarray | None:
    if not task:
        return None
    builtin = builtin_env(task)
    if builtin is not None:
        return builtin.normalize(returns)
    from genpolicy.scores import normalized_score, task_of

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


@dataclass
class Actor:
    """A checkpoint's policy as ``genpolicy evaluate`` runs it (see :func:`load_actor`)."""

    algo: Any  # the algorithm, in eval mode, with its acting (e.g. EMA) weights loaded
    cfg: Any  # its RunConfig
    ckpt: dict[str, Any]  # the checkpoint dict
    act_cfg: Any  # the ActConfig acting uses (None: a policy without one)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Actions for raw observations, exactly as evaluation calls the policy."""
        out: np.ndarray = self.algo.act(obs, act_cfg=self.act_cfg)
        return out

    @property
    def env_id(self) -> str:
        """The checkpoint's evaluation environment."""
        env_id = self.ckpt.get("env_id")
        if not env_id:
            raise GenpolicyError("the checkpoint names no environment; it cannot be evaluated")
        return str(env_id)

    @property
    def task(self) -> str | None:
        """The score normalisation of the checkpoint's environment and dataset."""
        return score_task(self.env_id, self.ckpt.get("dataset"))

    def evaluate(self, episodes: int, seed: int | None = None) -> EvalResult:
        """``episodes`` episodes on the checkpoint's environment, acting noise and
        environments seeded by ``seed`` (default: the run's evaluation seed), scored by
        :attr:`task`: what ``genpolicy evaluate`` reports."""
        seed = self.cfg.train.eval_seed if seed is None else seed
        self.algo.seed_acting(seed)
        return evaluate(self.act, self.env_id, episodes, seed, self.task)

    def act_settings(self) -> dict[str, Any] | None:
        """``act_cfg`` as acting resolves it: the sampler's steps and solver filled in from
        the model's defaults where the policy samples, None where they do not apply; None
        for a policy without act settings."""
        if self.act_cfg is None:
            return None
        out = asdict(self.act_cfg)
        if self.cfg.algo.samples_actions():
            from genpolicy.models import model_class

            out["steps"], out["solver"] = model_class(self.cfg.model.kind).resolve_sampler(
                self.cfg.model, self.act_cfg.steps, self.act_cfg.solver
            )
        else:
            out["steps"] = out["solver"] = None
        return out


def load_actor(
    path: str | Path,
    device: str = "cpu",
    *,
    candidates: int | None = None,
    steps: int | None = None,
    noise_scale: float | None = None,
) -> Actor:
    """The policy of checkpoint ``path`` (a run directory: its last checkpoint) acting with
    the run's act settings, or with ``candidates``/``steps``/``noise_scale`` changed for
    this actor only (the algorithm's config stays as it is)."""
    from genpolicy.checkpoint import load_policy

    algo, cfg, ckpt = load_policy(path, device)
    act_cfg = getattr(cfg.algo, "act", None)
    changes = {
        k: v
        for k, v in (("candidates", candidates), ("steps", steps), ("noise_scale", noise_scale))
        if v is not None
    }
    if act_cfg is not None:  # a new act config for this actor; the algorithm's stays
        act_cfg = dataclasses.replace(act_cfg, **changes)
        dataclasses.replace(cfg, algo=dataclasses.replace(cfg.algo, act=act_cfg)).validate()
    elif changes:
        raise GenpolicyError(
            f"--candidates/--steps/--noise-scale need a generative policy; this is {cfg.algo.name}"
        )
    return Actor(algo, cfg, ckpt, act_cfg)
