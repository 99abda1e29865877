"""IQL: implicit Q-learning with a Gaussian policy extracted by advantage-weighted regression.

(Kostrikov, Nair and Levine, 2021.) The critic is ``genpolicy.critics.IQLCritic``; the
policy pi(a|s) = N(tanh(m_phi(s)), diag(exp(2 log_sigma))) with a state-independent
log_sigma maximises

    L_pi(phi) = -E_(s,a)~D [ min(exp(beta (Qbar(s, a) - V(s))), w_max) log pi_phi(a|s) ]

Acting uses the mean tanh(m_phi(s)), which already lies in [-1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from genpolicy.algos.base import Algorithm, BatchLike
from genpolicy.critics import CriticConfig, IQLCritic, mlp
from genpolicy.errors import GenpolicyError

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


@dataclass
class IQLConfig:
    name: str = "iql"
    beta: float = 3.0
    weight_clamp: float = 100.0
    batch_size: int = 256
    lr: float = 3e-4
    hidden: int = 256
    depth: int = 2

    def validate(self) -> None:
        if self.beta < 0:
            raise GenpolicyError(f"algo.beta must be >= 0, got {self.beta}")
        if self.weight_clamp <= 0:
            raise GenpolicyError(f"algo.weight_clamp must be > 0, got {self.weight_clamp}")


class GaussianPolicy(nn.Module):
    """N(tanh(m(s)), diag sigma^2) with a learned, state-independent log sigma."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int, depth: int) -> None:
        super().__init__()
        self.mean_net = mlp(obs_dim, act_dim, hidden, depth)
        self.log_std = nn.Parameter(torch.zeros(act_dim))

    def mean(self, obs: Tensor) -> Tensor:
        return torch.tanh(self.mean_net(obs))

    def log_prob(self, obs: Tensor, act: Tensor) -> Tensor:
        log_std = self.log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)
        z = (act - self.mean(obs)) * torch.exp(-log_std)
        const = 0.5 * torch.log(torch.tensor(2.0 * torch.pi))
        return (-0.5 * z.square() - log_std - const).sum(-1)


class IQL(Algorithm):
    name = "iql"

    def __init__(
        self,
        cfg: IQLConfig,
        model_cfg: Any,
        critic_cfg: CriticConfig,
        obs_dim: int,
        act_dim: int,
        device: str = "cpu",
    ) -> None:
        super().__init__(obs_dim, act_dim, cfg.batch_size, device)
        self.cfg = cfg
        self.policy = GaussianPolicy(obs_dim, act_dim, cfg.hidden, cfg.depth)
        self.critic = IQLCritic(obs_dim, act_dim, critic_cfg)
        self.policy_opt = torch.optim.Adam(self.policy.parameters(), lr=cfg.lr, foreach=True)
        self.to(self.device)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"policy": self.policy_opt, "critic": self.critic.optimizer}

    def update(self, batch: BatchLike) -> dict[str, Tensor]:
        s, a = batch.observations, batch.actions
        weight = torch.exp(self.cfg.beta * self.critic.advantage(s, a))
        weight = weight.clamp(max=self.cfg.weight_clamp)
        loss = -(weight * self.policy.log_prob(s, a)).mean()
        self.policy_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.policy_opt.step()
        info = self.critic.update(s, a, batch.rewards, batch.next_observations, batch.terminals)
        self.num_updates += 1
        info.update({"policy/loss": loss.detach(), "policy/weight_mean": weight.mean()})
        return info

    def act_normalized(self, obs: Tensor) -> Tensor:
        return self.policy.mean(obs)
