"""IQL: implicit Q-learning with a Gaussian policy extracted by advantage-weighted regression.

(Kostrikov, Nair and Levine, 2021.) The critic is ``genpolicy.rl.critics.IQLCritic``; the
policy pi(a|s) = N(tanh(m_phi(s)), diag(exp(2 log_sigma))) with a state-independent
log_sigma maximises

    L_pi(phi) = -E_(s,a)~D [ min(exp(beta (Qbar(s, a) - V(s))), w_max) log pi_phi(a|s) ]

Acting uses the mean tanh(m_phi(s)), which already lies in [-1, 1]. The weight comes from
``advantage_weights`` (``weighting``: "exp" above, or GTP's "std_positive"); with
``critic_warmup`` = N the first N updates train the critic only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from genpolicy.errors import GenpolicyError
from genpolicy.generative.models import ModelConfig
from genpolicy.generative.nets import LOG_STD_MAX, LOG_STD_MIN, GaussianPolicy
from genpolicy.rl.algos.acting import ActConfig
from genpolicy.rl.algos.base import AlgoConfig, Algorithm, BatchLike
from genpolicy.rl.algos.weighting import check_weighting, config_weights, weight_stats
from genpolicy.rl.critics import CriticConfig, IQLCritic

__all__ = ["IQL", "LOG_STD_MAX", "LOG_STD_MIN", "GaussianPolicy", "IQLConfig"]


@dataclass
class IQLConfig(AlgoConfig):
    name: str = "iql"
    batch_size: int = 256
    lr: float = 3e-4
    beta: float = 3.0
    weight_clamp: float = 100.0
    weighting: str = "exp"  # exp | std_positive (genpolicy.rl.algos.base.advantage_weights)
    self_normalize: bool = False  # divide the weights by their batch mean
    min_ess: float = 0.0  # lower beta per batch so the weights' ESS stays >= this; 0: off
    hidden: int = 256
    depth: int = 2

    def validate(self) -> None:
        super().validate()
        if self.beta < 0:
            raise GenpolicyError(f"algo.beta must be >= 0, got {self.beta}")
        check_weighting(self.weighting, self.weight_clamp, self.min_ess)


class IQL(Algorithm):
    name = "iql"
    cfg: IQLConfig

    def build(self, model_cfg: ModelConfig, critic_cfg: CriticConfig) -> None:
        c = self.cfg  # a Gaussian policy: no generative model
        self.policy = GaussianPolicy(self.obs_dim, self.act_dim, c.hidden, c.depth)
        self.critic = IQLCritic(self.obs_dim, self.act_dim, critic_cfg)
        self.policy_opt = torch.optim.Adam(self.policy.parameters(), lr=c.lr, foreach=True)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"policy": self.policy_opt, "critic": self.critic.optimizer}

    def policy_loss(self, s: Tensor, a: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """L_pi (advantage-weighted log-likelihood) and the weights' statistics."""
        weight = config_weights(self.critic.advantage(s, a), self.cfg, self.hyper("beta"))
        return -(weight * self.policy.log_prob(s, a)).mean(), weight_stats(weight)

    def step(self, batch: BatchLike, phase: str) -> dict[str, Tensor]:
        s, a = batch.observations, batch.actions
        policy_info: dict[str, Tensor] = {}
        if phase != "warmup":
            loss, policy_info = self.policy_step((s, a))
            policy_info["policy/loss"] = loss
        info = self.critic.update(s, a, batch.rewards, batch.next_observations, batch.terminals)
        info.update(policy_info)
        return info

    def act_normalized(self, obs: Tensor, act_cfg: ActConfig | None) -> Tensor:
        return self.policy.mean(obs)
