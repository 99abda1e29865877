"""Behaviour cloning: fit mu(a|s) to the dataset's actions, no rewards involved.

``policy`` picks the density:

* ``generative`` (default): the per-sample matching loss of any generative model
  (``model`` section), L = E_(s,a)~D [ l_theta(a | s) ]; keeps every action mode,
* ``gaussian``: L = -E log N(a; tanh(m(s)), sigma^2), acting with the mean,
* ``deterministic``: L = E || tanh(m(s)) - a ||^2.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from genpolicy.algos.base import (
    ActConfig,
    Algorithm,
    BatchLike,
    check_act_config,
    generative_act,
)
from genpolicy.algos.iql import GaussianPolicy
from genpolicy.critics import CriticConfig
from genpolicy.errors import GenpolicyError, unknown_name
from genpolicy.models import ModelConfig, build_model

POLICIES = ("generative", "gaussian", "deterministic")


@dataclass
class BCConfig:
    name: str = "bc"
    policy: str = "generative"
    batch_size: int = 256
    lr: float = 3e-4
    hidden: int = 256  # gaussian / deterministic policies
    depth: int = 2
    act: ActConfig = field(default_factory=ActConfig)

    def validate(self) -> None:
        if self.policy not in POLICIES:
            raise unknown_name("BC policy", self.policy, POLICIES)
        check_act_config(self.act, has_critic=False)


class BC(Algorithm):
    name = "bc"

    def __init__(
        self,
        cfg: BCConfig,
        model_cfg: ModelConfig,
        critic_cfg: CriticConfig,
        obs_dim: int,
        act_dim: int,
        device: str = "cpu",
    ) -> None:
        super().__init__(obs_dim, act_dim, cfg.batch_size, device)
        self.cfg = cfg
        self.policy: Any
        if cfg.policy == "generative":
            self.policy = build_model(model_cfg, action_dim=act_dim, state_dim=obs_dim)
        elif cfg.policy in ("gaussian", "deterministic"):
            self.policy = GaussianPolicy(obs_dim, act_dim, cfg.hidden, cfg.depth)
        else:
            raise GenpolicyError(f"algo.policy must be one of {POLICIES}, got {cfg.policy!r}")
        self.policy_opt = torch.optim.Adam(self.policy.parameters(), lr=cfg.lr, foreach=True)
        self.to(self.device)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"policy": self.policy_opt}

    def loss(self, obs: Tensor, act: Tensor) -> Tensor:
        if self.cfg.policy == "generative":
            return self.policy.loss(act, obs).mean()
        if self.cfg.policy == "gaussian":
            return -self.policy.log_prob(obs, act).mean()
        return (self.policy.mean(obs) - act).square().sum(-1).mean()

    def update(self, batch: BatchLike) -> dict[str, Tensor]:
        loss = self.loss(batch.observations, batch.actions)
        self.policy_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.policy_opt.step()
        if self.cfg.policy == "generative":
            self.policy.update_target()  # EMA target of flow-map models; no-op otherwise
        self.num_updates += 1
        return {"policy/loss": loss.detach()}

    def act_normalized(self, obs: Tensor) -> Tensor:
        if self.cfg.policy == "generative":
            return generative_act(self.policy, obs, self.cfg.act, self.act_generator)
        return self.policy.mean(obs)
