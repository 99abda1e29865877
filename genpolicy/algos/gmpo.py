"""GMPO: generative model policy optimisation by advantage-weighted matching.

(arXiv 2412.01245.) The optimal KL-regularised policy is pi*(a|s) ∝ mu(a|s) exp(beta A(s, a)).
Any diffusion or flow model fits pi* by weighting its per-sample matching loss l_theta
on behaviour data with the (clamped) exponentiated advantage, so no behaviour
pretraining is needed:

    L_pi(theta) = E_(s,a)~D [ min(exp(beta (Qbar(s, a) - V(s))), w_max) * l_theta(a | s) ]

Qbar and V come from an IQL critic trained on the same batches (``genpolicy.critics``).
Acting: one sample from the model's ODE (32 Euler steps by default), or N samples
ranked by Q.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from genpolicy.algos.base import (
    ActConfig,
    Algorithm,
    BatchLike,
    check_act_config,
    generative_act,
)
from genpolicy.critics import CriticConfig, IQLCritic
from genpolicy.errors import GenpolicyError
from genpolicy.models import ModelConfig, build_model


@dataclass
class GMPOConfig:
    name: str = "gmpo"
    beta: float = 8.0
    weight_clamp: float = 100.0
    batch_size: int = 4096
    lr: float = 1e-4
    grad_clip: float = 0.0  # 0: no clipping
    act: ActConfig = field(default_factory=ActConfig)

    def validate(self) -> None:
        if self.beta < 0:
            raise GenpolicyError(f"algo.beta must be >= 0, got {self.beta}")
        if self.weight_clamp <= 0:
            raise GenpolicyError(f"algo.weight_clamp must be > 0, got {self.weight_clamp}")
        check_act_config(self.act, has_critic=True)


class GMPO(Algorithm):
    name = "gmpo"

    def __init__(
        self,
        cfg: GMPOConfig,
        model_cfg: ModelConfig,
        critic_cfg: CriticConfig,
        obs_dim: int,
        act_dim: int,
        device: str = "cpu",
    ) -> None:
        super().__init__(obs_dim, act_dim, cfg.batch_size, device)
        self.cfg = cfg
        self.policy = build_model(model_cfg, action_dim=act_dim, state_dim=obs_dim)
        self.critic = IQLCritic(obs_dim, act_dim, critic_cfg)
        self.policy_opt = torch.optim.Adam(self.policy.parameters(), lr=cfg.lr, foreach=True)
        self.to(self.device)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"policy": self.policy_opt, "critic": self.critic.optimizer}

    def policy_loss(self, obs: Tensor, act: Tensor) -> tuple[Tensor, Tensor]:
        weight = torch.exp(self.cfg.beta * self.critic.advantage(obs, act))
        weight = weight.clamp(max=self.cfg.weight_clamp)
        return (weight * self.policy.loss(act, obs)).mean(), weight

    def update(self, batch: BatchLike) -> dict[str, Tensor]:
        s, a = batch.observations, batch.actions
        loss, weight = self.policy_loss(s, a)
        self.policy_opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.cfg.grad_clip)
        self.policy_opt.step()
        self.policy.update_target()  # EMA target of flow-map models; no-op otherwise
        info = self.critic.update(s, a, batch.rewards, batch.next_observations, batch.terminals)
        self.num_updates += 1
        info.update({"policy/loss": loss.detach(), "policy/weight_mean": weight.mean()})
        return info

    def act_normalized(self, obs: Tensor) -> Tensor:
        return generative_act(
            self.policy, obs, self.cfg.act, self.act_generator, self._q_for_ranking
        )

    def _q_for_ranking(self, obs: Tensor, act: Tensor) -> Tensor:
        return self.critic.q_min(obs, act, target=False)
