"""SRPO: score-regularised policy optimisation through a diffusion behaviour model.

(Chen, Lu, Wang, Su and Zhu, 2024 (ICLR), arXiv 2310.07297.) A deterministic actor
a = pi_theta(s) maximises Q under a reverse-KL pull towards the behaviour model mu,
max_theta E_s [ Q(s, pi(s)) ] - (1/beta) KL(pi || mu), whose KL gradient is estimated with
mu's score at noised actions (no sampling from mu, no likelihood):

    grad_theta L = E_(s, t, z) [ w(t) (z_mu(a_t, t | s) - z) - beta grad_a Qbar(s, a) ]
                   d a / d theta,      a = pi_theta(s),  a_t = alpha_t a + sigma_t z,

with z_mu the behaviour model's noise prediction (score = -z_mu / sigma_t), w(t) = sigma_t^2,
t uniform on the middle 96% of the time range ([0.02, 0.98] on the VP path), and Qbar the
mean of the IQL critic's Polyak-target twins. Subtracting z (``baseline``) leaves the
expectation unchanged and lowers the variance (the public code's default omits it).

Two phases on one step counter:

1. steps < pretrain_steps: mu by plain matching on the batch and the IQL critic on its
   first ``critic_batch`` rows (the public code trains them separately).
2. then both are frozen and the actor trains on ``policy_batch`` states.

Acting: tanh(m_theta(s)), one forward pass (also during pretraining, untrained).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from genpolicy.errors import GenpolicyError, unknown_name
from genpolicy.generative.models import ModelConfig
from genpolicy.generative.nets import mlp
from genpolicy.rl.algos.base import AlgoConfig, Algorithm, BatchLike
from genpolicy.rl.critics import CriticConfig, make_critic
from genpolicy.rl.optim import optimizer_step

T_LO, T_HI = 0.02, 0.98  # fractions of the model's time range the regulariser samples
WEIGHTS = ("sigma2", "one", "snr")  # the public code's VDS, stable and score weightings


@dataclass
class SRPOConfig(AlgoConfig):
    name: str = "srpo"
    batch_size: int = 2048  # behaviour-model batch
    lr: float = 3e-4  # actor
    beta: float = 0.05  # temperature: weight of grad Q against the score term
    pretrain_steps: int = 2_000_000
    behaviour_lr: float = 3e-4
    critic_batch: int = 256  # the first rows of the batch
    policy_batch: int = 256
    weighting: str = "sigma2"  # w(t): sigma2 = sigma_t^2 | one | snr = alpha_t / sigma_t
    baseline: bool = True  # subtract z from z_mu (same gradient in expectation)
    normalize_q_grad: bool = False  # grad Q / its per-state RMS (public code: AntMaze)
    hidden: int = 256  # actor MLP
    depth: int = 2

    supports_critic_warmup = False  # pretraining is its critic phase

    @property
    def pretrain_updates(self) -> int:
        return self.pretrain_steps

    def validate(self) -> None:
        super().validate()
        if not self.behaviour_lr > 0:
            raise GenpolicyError(f"algo.behaviour_lr must be > 0, got {self.behaviour_lr}")
        if self.weighting not in WEIGHTS:
            raise unknown_name("algo.weighting", self.weighting, WEIGHTS)
        if not self.beta >= 0:
            raise GenpolicyError(f"algo.beta must be >= 0, got {self.beta}")
        if self.pretrain_steps < 0:
            raise GenpolicyError(f"algo.pretrain_steps must be >= 0, got {self.pretrain_steps}")
        for key in ("critic_batch", "policy_batch"):
            if not 1 <= getattr(self, key) <= self.batch_size:
                raise GenpolicyError(
                    f"algo.{key} must be in [1, algo.batch_size={self.batch_size}], "
                    f"got {getattr(self, key)}"
                )
        if self.hidden < 1 or self.depth < 1:
            raise GenpolicyError(
                f"algo.hidden and algo.depth must be >= 1, got {self.hidden} and {self.depth}"
            )


class SRPO(Algorithm):
    name = "srpo"
    requires = ("score",)
    cfg: SRPOConfig

    def build(self, model_cfg: ModelConfig, critic_cfg: CriticConfig) -> None:
        c, obs_dim, act_dim = self.cfg, self.obs_dim, self.act_dim
        self.policy = mlp(obs_dim, act_dim, c.hidden, c.depth)  # m_theta; acts as tanh(m)
        self.init_behaviour(model_cfg, c.behaviour_lr)
        self.critic = make_critic("iql", obs_dim, act_dim, critic_cfg)
        self.policy_opt = torch.optim.Adam(self.policy.parameters(), lr=c.lr, foreach=True)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        opts = {"policy": self.policy_opt, "critic": self.critic.optimizer}
        return {"behaviour": self.behaviour_opt, **opts}

    def actor(self, obs: Tensor) -> Tensor:
        return torch.tanh(self.policy(obs))

    def weight(self, t: Tensor) -> Tensor:
        """w(t) of the score term (``weighting``)."""
        path, kind = self.behaviour.path, self.cfg.weighting
        if kind == "one":
            return torch.ones_like(t)
        sigma = path.sigma(t)
        return sigma.square() if kind == "sigma2" else path.alpha(t) / sigma

    def policy_loss(self, obs: Tensor) -> dict[str, Tensor]:
        """A surrogate whose gradient is grad_theta L (module docstring) and its terms."""
        c, mu = self.cfg, self.behaviour
        a = self.actor(obs)
        span = mu.t_max - mu.t_min
        u = T_LO + (T_HI - T_LO) * torch.rand(obs.shape[0], device=obs.device)
        t = mu.t_min + span * u
        with torch.no_grad():
            ps = mu.path.sample_xt(a, t)
            z_mu = mu.noise(ps.xt, t, obs)
            reg = z_mu - ps.noise if c.baseline else z_mu
            w = self.weight(t).unsqueeze(-1)
        a_q = a.detach().requires_grad_(True)
        q = self.critic.q_values(obs, a_q, target=True).mean(dim=0)
        (grad_q,) = torch.autograd.grad(q.sum(), a_q)
        if c.normalize_q_grad:
            grad_q = grad_q / grad_q.square().mean(-1, keepdim=True).sqrt().clamp_min(1e-8)
        loss = ((w * reg - c.beta * grad_q) * a).sum(-1).mean()
        return {"loss": loss, "q": q.detach().mean(), "score_term": (w * reg).norm(dim=-1).mean()}

    def phase(self) -> str:
        return self.pretrain_phase()

    def phase_lr(self, phase: str) -> float:
        return self.pretrain_phase_lr(phase, self.cfg.behaviour_lr)

    def step(self, batch: BatchLike, phase: str) -> dict[str, Tensor]:
        c, s, a = self.cfg, batch.observations, batch.actions
        if phase == "policy":
            terms = self.policy_loss(s[: c.policy_batch])
            optimizer_step(self.policy_opt, terms["loss"], lr=self.lr(), grad_clip=c.grad_clip)
            return {f"policy/{k}": v.detach() for k, v in terms.items()}
        out = self.pretrain_step(s, a)
        n = c.critic_batch
        r, s2, d = batch.rewards[:n], batch.next_observations[:n], batch.terminals[:n]
        out.update(self.critic.update(s[:n], a[:n], r, s2, d))
        return out

    def act_normalized(self, obs: Tensor, act_cfg: Any) -> Tensor:
        return self.actor(obs)

    def speed_phases(self) -> list[str]:
        """Behaviour and critic pretraining (if any), then the actor."""
        return ["pretrain", "policy"] if self.cfg.pretrain_steps > 0 else ["policy"]

    def start_phase(self, phase: str) -> None:
        if phase == "policy":
            self.num_updates = self.cfg.pretrain_steps
        else:
            super().start_phase(phase)
