"""Behaviour cloning: fit mu(a|s) to the dataset's actions, no rewards involved.

One registered name, ``bc``; ``policy`` picks the variant (``BC.for_config``):

* ``generative`` (default, ``GenerativeBC``): the per-sample matching loss of any
  generative model (``model`` section), L = E_(s,a)~D [ l_theta(a | s) ]; keeps every
  action mode and acts with the model's sampler (``act``),
* ``gaussian`` (``GaussianBC``): L = -E log N(a; tanh(m(s)), sigma^2), acting with the mean,
* ``deterministic`` (``GaussianBC``): L = E || tanh(m(s)) - a ||^2.

``ema`` > 0 keeps an exponential moving average of the policy's weights, which acts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor

from genpolicy.errors import unknown_name
from genpolicy.generative.models import ModelConfig, build_model
from genpolicy.generative.nets import GaussianPolicy
from genpolicy.rl.algos.acting import ActConfig, check_act_config
from genpolicy.rl.algos.base import AlgoConfig, Algorithm, BatchLike, check_ema
from genpolicy.rl.critics import CriticConfig

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
    """What both variants share: one policy, its optimiser and EMA, the update step."""

    name = "bc"
    cfg: BCConfig
    draws_noise: ClassVar[bool] = False  # whether ``loss`` takes random draws (loss_noise)

    @classmethod
    def for_config(cls, cfg: Any) -> type[Algorithm]:
        if cls is not BC:
            return cls
        if cfg.policy not in POLICIES:
            raise unknown_name("BC policy", cfg.policy, POLICIES)
        return GenerativeBC if cfg.policy == "generative" else GaussianBC

    def build(self, model_cfg: ModelConfig, critic_cfg: CriticConfig) -> None:
        self.policy = self.make_policy(model_cfg)
        self.policy_opt = torch.optim.Adam(self.policy.parameters(), lr=self.cfg.lr, foreach=True)
        self.init_policy_ema(self.cfg.ema)

    def make_policy(self, model_cfg: ModelConfig) -> Any:
        raise NotImplementedError

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"policy": self.policy_opt}

    def loss(self, obs: Tensor, act: Tensor, noise: dict[str, Tensor] | None = None) -> Tensor:
        raise NotImplementedError

    def loss_noise(self, n: int, like: Tensor, generator: torch.Generator | None) -> Any:
        """The loss's random draws (for a class with ``draws_noise``)."""
        raise NotImplementedError

    def step_loss(
        self, obs: Tensor, act: Tensor, noise: dict[str, Tensor] | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        return self.loss(obs, act, noise), {}

    def after_step(self) -> None:
        """Hook after each optimiser step (a generative model's own EMA target)."""

    def step(self, batch: BatchLike, phase: str) -> dict[str, Tensor]:
        s, a = batch.observations, batch.actions
        loss, _ = self.stepper.step(
            self.policy_opt,
            self.step_loss,
            (s, a),
            lr=self.lr(),
            grad_clip=self.cfg.grad_clip,
            noise=(lambda g: self.loss_noise(a.shape[-2], a, g)) if self.draws_noise else None,
        )
        self.after_step()
        self.update_policy_ema()
        return {"policy/loss": loss.detach()}


class GenerativeBC(BC):
    """L = E_(s,a)~D [ l_theta(a | s) ] with any generative model's matching loss."""

    requires = ("sample",)
    draws_noise = True

    def make_policy(self, model_cfg: ModelConfig) -> Any:
        return build_model(model_cfg, action_dim=self.act_dim, state_dim=self.obs_dim)

    def loss(self, obs: Tensor, act: Tensor, noise: dict[str, Tensor] | None = None) -> Tensor:
        return self.policy.loss(act, obs, noise).mean()

    def loss_noise(self, n: int, like: Tensor, generator: torch.Generator | None) -> Any:
        return self.policy.loss_noise(n, like, generator)

    def after_step(self) -> None:
        self.policy.update_target()  # EMA target of flow-map models; no-op otherwise

    def act_normalized(self, obs: Tensor, act_cfg: ActConfig | None) -> Tensor:
        return self.sample_actions(self.acting_policy(), obs, act_cfg)


class GaussianBC(BC):
    """``gaussian``: L = -E log N(a; tanh(m(s)), sigma^2); ``deterministic``:
    L = E || tanh(m(s)) - a ||^2. Both act with tanh(m(s))."""

    def make_policy(self, model_cfg: ModelConfig) -> Any:
        return GaussianPolicy(self.obs_dim, self.act_dim, self.cfg.hidden, self.cfg.depth)

    def loss(self, obs: Tensor, act: Tensor, noise: dict[str, Tensor] | None = None) -> Tensor:
        if self.cfg.policy == "gaussian":
            return -self.policy.log_prob(obs, act).mean()
        return (self.policy.mean(obs) - act).square().sum(-1).mean()

    def act_normalized(self, obs: Tensor, act_cfg: ActConfig | None) -> Tensor:
        return self.acting_policy().mean(obs)
