"""Behaviour cloning: fit mu(a|s) to the dataset's actions, no rewards involved.

``policy`` picks the density:

* ``generative`` (default): the per-sample matching loss of any generative model
  (``model`` section), L = E_(s,a)~D [ l_theta(a | s) ]; keeps every action mode,
* ``gaussian``: L = -E log N(a; tanh(m(s)), sigma^2), acting with the mean,
* ``deterministic``: L = E || tanh(m(s)) - a ||^2.

``ema`` > 0 keeps an exponential moving average of the policy's weights, which acts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from genpolicy.algos.base import (
    ActConfig,
    AlgoConfig,
    Algorithm,
    BatchLike,
    check_act_config,
    check_ema,
    generative_act,
    optimizer_step,
)
from genpolicy.algos.iql import GaussianPolicy
from genpolicy.critics import CriticConfig
from genpolicy.errors import GenpolicyError, unknown_name
from genpolicy.models import ModelConfig, build_model

POLICIES = ("generative", "gaussian", "deterministic")


@dataclass
class BCConfig(AlgoConfig):
    name: str = "bc"
    batch_size: int = 256
    lr: float = 3e-4
    policy: str = "generative"
    hidden: int = 256  # gaussian / deterministic policies
    depth: int = 2
    ema: float = 0.0  # decay of the acting EMA copy of the policy; 0: act with the online weights
    act: ActConfig = field(default_factory=ActConfig)

    supports_critic_warmup = False  # no critic

    def validate(self) -> None:
        super().validate()
        if self.policy not in POLICIES:
            raise unknown_name("BC policy", self.policy, POLICIES)
        check_ema(self.ema)
        check_act_config(self.act, has_critic=False)

    def samples_actions(self) -> bool:
        return self.policy == "generative"


class BC(Algorithm):
    name = "bc"
    cfg: BCConfig

    def __init__(
        self,
        cfg: BCConfig,
        model_cfg: ModelConfig,
        critic_cfg: CriticConfig,
        obs_dim: int,
        act_dim: int,
        device: str = "cpu",
    ) -> None:
        super().__init__(obs_dim, act_dim, cfg, device)
        self.cfg = cfg
        self.policy: Any
        if cfg.policy == "generative":
            self.policy = build_model(model_cfg, action_dim=act_dim, state_dim=obs_dim)
        elif cfg.policy in ("gaussian", "deterministic"):
            self.policy = GaussianPolicy(obs_dim, act_dim, cfg.hidden, cfg.depth)
        else:
            raise GenpolicyError(f"algo.policy must be one of {POLICIES}, got {cfg.policy!r}")
        self.policy_opt = torch.optim.Adam(self.policy.parameters(), lr=cfg.lr, foreach=True)
        self.init_policy_ema(cfg.ema)
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
        optimizer_step(self.policy_opt, loss, lr=self.scheduled_lr(), grad_clip=self.cfg.grad_clip)
        if self.cfg.policy == "generative":
            self.policy.update_target()  # EMA target of flow-map models; no-op otherwise
        self.update_policy_ema()
        self.num_updates += 1
        return {"policy/loss": loss.detach()}

    def act_normalized(self, obs: Tensor) -> Tensor:
        policy = self.acting_policy()
        if self.cfg.policy == "generative":
            return generative_act(policy, obs, self.cfg.act, self.act_generator)
        return policy.mean(obs)
