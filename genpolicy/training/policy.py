"""A trained policy: load a checkpoint, act, evaluate on the run's environment.

from genpolicy import load_policy
policy = load_policy("runs/default")          # a run folder: its last checkpoint
action = policy.act(obs)                      # numpy in, numpy out
result = policy.evaluate(episodes=10)         # raw and D4RL-normalised returns
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genpolicy.envs.evaluate import EvalResult, evaluate, score_task
from genpolicy.errors import GenpolicyError
from genpolicy.training.checkpoint import load_algorithm


@dataclass
class Policy:
    """A trained policy loaded from a checkpoint, acting as ``genpolicy evaluate`` runs it
    (see :func:`load_policy`)."""

    algo: Any  # the algorithm, in eval mode, with its acting (e.g. EMA) weights loaded
    cfg: Any  # its RunConfig
    ckpt: dict[str, Any]  # the checkpoint dict
    act_cfg: Any  # the ActConfig acting uses (None: a policy without one)
    source: str = ""  # the path it was loaded from (for error messages)
    env_override: str | None = None  # evaluate here instead of the checkpoint's environment

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Actions for raw observations, exactly as evaluation calls the policy."""
        out: np.ndarray = self.algo.act(obs, act_cfg=self.act_cfg)
        return out

    @property
    def env_id(self) -> str:
        """The checkpoint's evaluation environment."""
        env_id = self.env_override or self.ckpt.get("env_id")
        if not env_id:
            where = f"checkpoint {self.source}" if self.source else "the checkpoint"
            raise GenpolicyError(
                f"{where} names no environment (its dataset had none); name the Gymnasium "
                "environment to evaluate it on, e.g. --env Hopper-v5 (Python: env_id=...)"
            )
        if self.env_override and self.ckpt.get("env_id") != self.env_override:
            from genpolicy.envs.gym_envs import check_dims

            check_dims(
                self.env_override,
                self.algo.obs_dim,
                self.algo.act_dim,
                f"--env {self.env_override} (env_id)",
                "name an environment with the data's observations and actions",
            )
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
            from genpolicy.generative.models import model_class

            out["steps"], out["solver"] = model_class(self.cfg.model.kind).resolve_sampler(
                self.cfg.model, self.act_cfg.steps, self.act_cfg.solver
            )
        else:
            out["steps"] = out["solver"] = None
        return out


def load_policy(
    path: str | Path,
    device: str = "cpu",
    *,
    candidates: int | None = None,
    steps: int | None = None,
    noise_scale: float | None = None,
    env_id: str | None = None,
) -> Policy:
    """The policy of checkpoint ``path`` (a run directory: its last checkpoint) acting with
    the run's act settings, or with ``candidates``/``steps``/``noise_scale`` changed for
    this actor only (the algorithm's config stays as it is). ``env_id`` evaluates it on
    another Gymnasium environment than the checkpoint's (needed where its dataset named
    none)."""
    algo, cfg, ckpt = load_algorithm(path, device)
    act_cfg = getattr(cfg.algo, "act", None)
    changes = {
        k: v
        for k, v in (("candidates", candidates), ("steps", steps), ("noise_scale", noise_scale))
        if v is not None
    }
    if act_cfg is not None:  # a new act config for this actor; the algorithm's stays
        act_cfg = dataclasses.replace(act_cfg, **changes)
        # checked as this actor's config: the run's extra evaluations (train.eval_act_*) are
        # not this actor's and may not suit its settings (candidates with noise_scale 0)
        train = dataclasses.replace(cfg.train, eval_act_steps=[], eval_act_candidates=[])
        algo_cfg = dataclasses.replace(cfg.algo, act=act_cfg)
        dataclasses.replace(cfg, algo=algo_cfg, train=train).validate()
    elif changes:
        raise GenpolicyError(
            f"--candidates/--steps/--noise-scale need a generative policy; this is {cfg.algo.name}"
        )
    return Policy(algo, cfg, ckpt, act_cfg, source=str(path), env_override=env_id or None)


def evaluate_policy(
    path: str | Path, episodes: int = 10, seed: int | None = None, env_id: str | None = None
) -> EvalResult:
    """Evaluate checkpoint ``path`` (a run folder: its last checkpoint) on its environment
    (or ``env_id``) with the run's act settings: what ``genpolicy evaluate PATH --episodes N``
    reports."""
    return load_policy(path, env_id=env_id).evaluate(episodes, seed)
