"""GMPG: generative model policy gradient through a differentiable ODE sampler.

(arXiv 2412.01245.) Two phases on the same step counter:

1. steps < pretrain_steps: fit the behaviour model mu by plain matching, and the IQL
   critic, on dataset batches.
2. then copy mu to the policy pi (mu is frozen from here on) and minimise

       L_pi(theta) = E_s E_(a, log pi(a|s)) ~ ODE_theta(s) [ -beta Q(s, a) / c
                      + (log pi_theta(a|s) - log mu(a|s)) / (d ln 2) ]

   where a and log pi come from ONE pass of the sampling ODE with its divergence
   integrated alongside (``sample_with_log_prob``, differentiable w.r.t. theta), and
   log mu(a|s) is the exact CNF likelihood of the frozen behaviour model at those
   actions (gradient flows to theta through a). The KL term is in bits per action
   dimension, as in the public code.

Stability and cost, instead of the public code's 1000-step Euler integration with the
Hutchinson estimator on a 40960 batch:
* a few RK4 steps (``grad_steps``, 10 by default) with the exact divergence
  (no estimator variance; action sizes are small),
* a small policy batch (``policy_batch``, 256), taken from the critic's batch,
* c = batch mean of |Q| (detached) when ``q_normalize`` (TD3+BC style), so beta is
  measured in units of the typical Q and does not depend on the reward scale; or, with
  ``q_normalizer: mean_abs_adv``, the batch mean of |Q - V(s)|, the spread of Q across
  actions, which is what decides how far the policy tilts; with ``q_normalize: false``
  beta multiplies raw Q as in the public code,
* Q from the Polyak target (no gradient into the critic), gradient-norm clipping
  (``grad_clip``) and a low learning rate.

Memory. Backpropagating through both ODE passes keeps every solver step's activations, so
memory grows with policy batch x ``grad_steps``. Two levers bound it without changing the
gradient (up to float rounding):
* ``policy_microbatch`` = m > 0: the policy batch of n states is processed m states at a
  time; each micro-batch's loss is scaled by its share (size / n) and backpropagated at
  once, and ONE optimiser step (clipping the accumulated gradient) follows. The prior
  noise is drawn for the whole batch first, and with ``q_normalize`` c is the batch-wide
  mean |Q| from a cheap no-grad sampling pass over all n states with that noise, so the
  sum of the micro-batch gradients is the full-batch gradient. (Hutchinson probes are
  drawn per micro-batch: the same distribution, other draws.)
* ``grad_checkpoint``: the solvers recompute each step's activations in the backward
  pass instead of keeping them (one step's activations, not all; about one more forward
  per step).

The learning-rate schedule (``lr_schedule``) runs twice: for the behaviour optimiser over
the pretraining updates, then for the policy over the rest of the run. ``ema`` > 0 acts
with an EMA copy of the policy (reset to the behaviour model when phase 2 starts).
"""

from __future__ import annotations

import math
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
    clip_and_step,
    optimizer_step,
)
from genpolicy.critics import CriticConfig, IQLCritic
from genpolicy.errors import GenpolicyError
from genpolicy.models import ModelConfig, build_model


@dataclass
class GMPGConfig(AlgoConfig):
    name: str = "gmpg"
    batch_size: int = 4096  # behaviour-model and critic batch
    lr: float = 1e-5  # policy learning rate
    grad_clip: float = 1.0
    beta: float = 1.0
    pretrain_steps: int = 100_000
    behaviour_lr: float = 1e-4
    policy_batch: int = 256
    grad_steps: int = 10  # ODE steps of the differentiable sampler and of log mu
    grad_solver: str = "rk4"
    divergence: str = "exact"  # or "hutchinson"
    q_normalize: bool = True
    # c when q_normalize: "mean_abs_q" = mean |Q| (TD3+BC style); "mean_abs_adv" = mean
    # |Q - V(s)|, the spread of Q across actions, so beta measures the tilt towards high Q
    # in units of the critic's advantage (see docs/rl.md: mean |Q| is ~40x that on hopper)
    q_normalizer: str = "mean_abs_q"
    # evaluate Q at the action clipped to [-1, 1] (what a MuJoCo task executes), so the Q
    # term has no pull outside the box the critic was trained in
    q_clip: bool = False
    ema: float = 0.0  # decay of the acting EMA copy of the policy; 0: act with the online weights
    policy_microbatch: int = 0  # states per backward pass of the policy step; 0: all at once
    grad_checkpoint: bool = False  # recompute solver-step activations in backward: less memory
    act: ActConfig = field(default_factory=ActConfig)

    supports_critic_warmup = False  # pretrain_steps is its critic (and behaviour) phase

    def validate(self) -> None:
        if self.critic_warmup:
            raise GenpolicyError(
                "GMPG trains its critic alone with the behaviour model during pretraining: "
                "set algo.pretrain_steps instead of algo.critic_warmup"
            )
        super().validate()
        if not self.behaviour_lr > 0:
            raise GenpolicyError(f"algo.behaviour_lr must be > 0, got {self.behaviour_lr}")
        check_ema(self.ema)
        if self.pretrain_steps < 0:
            raise GenpolicyError(f"algo.pretrain_steps must be >= 0, got {self.pretrain_steps}")
        if not 1 <= self.policy_batch <= self.batch_size:
            raise GenpolicyError(
                f"algo.policy_batch must be in [1, algo.batch_size={self.batch_size}], "
                f"got {self.policy_batch}"
            )
        if self.policy_microbatch < 0:
            raise GenpolicyError(
                "algo.policy_microbatch must be >= 0 (0: the whole policy batch at once), "
                f"got {self.policy_microbatch}"
            )
        if self.policy_microbatch > self.policy_batch:
            raise GenpolicyError(
                f"algo.policy_microbatch must be <= algo.policy_batch={self.policy_batch} "
                f"(0: the whole batch at once), got {self.policy_microbatch}"
            )
        if self.grad_steps < 1:
            raise GenpolicyError(f"algo.grad_steps must be >= 1, got {self.grad_steps}")
        if self.q_normalizer not in ("mean_abs_q", "mean_abs_adv"):
            raise GenpolicyError(
                "algo.q_normalizer must be 'mean_abs_q' or 'mean_abs_adv', "
                f"got {self.q_normalizer!r}"
            )
        if self.divergence not in ("exact", "hutchinson"):
            raise GenpolicyError(
                f"algo.divergence must be 'exact' or 'hutchinson', got {self.divergence!r}"
            )
        check_act_config(self.act, has_critic=True)


class GMPG(Algorithm):
    name = "gmpg"
    requires = ("log_prob",)
    cfg: GMPGConfig

    def __init__(
        self,
        cfg: GMPGConfig,
        model_cfg: ModelConfig,
        critic_cfg: CriticConfig,
        obs_dim: int,
        act_dim: int,
        device: str = "cpu",
    ) -> None:
        super().__init__(obs_dim, act_dim, cfg, device)
        self.cfg = cfg
        # models with the "log_prob" capability: log_prob and sample_with_log_prob
        self.behaviour: Any = build_model(model_cfg, action_dim=act_dim, state_dim=obs_dim)
        self.policy: Any = build_model(model_cfg, action_dim=act_dim, state_dim=obs_dim)
        self.critic = IQLCritic(obs_dim, act_dim, critic_cfg)
        self.behaviour_opt = torch.optim.Adam(
            self.behaviour.parameters(), lr=cfg.behaviour_lr, foreach=True
        )
        self.policy_opt = torch.optim.Adam(self.policy.parameters(), lr=cfg.lr, foreach=True)
        self.init_policy_ema(cfg.ema)
        if cfg.pretrain_steps == 0:
            self.start_policy()
        self.to(self.device)

    @property
    def pretraining(self) -> bool:
        return self.num_updates < self.cfg.pretrain_steps

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {
            "behaviour": self.behaviour_opt,
            "policy": self.policy_opt,
            "critic": self.critic.optimizer,
        }

    def behaviour_update(self, obs: Tensor, act: Tensor) -> Tensor:
        loss = self.behaviour.loss(act, obs).mean()
        lr = self.scheduled_lr(self.cfg.behaviour_lr, end=self.cfg.pretrain_steps)
        optimizer_step(self.behaviour_opt, loss, lr=lr)
        return loss.detach()

    def start_policy(self) -> None:
        """pi <- mu (and its EMA copy <- mu); mu is frozen from now on."""
        self.policy.load_state_dict(self.behaviour.state_dict())
        self.reset_policy_ema()
        self.behaviour.requires_grad_(False)

    def q_scale(self, q: Tensor, obs: Tensor) -> Tensor:
        """c (detached): with ``q_normalize``, mean |Q| or mean |Q - V(s)| over the batch
        (``q_normalizer``); else 1."""
        if not self.cfg.q_normalize:
            return q.new_ones(())
        q = q.detach()
        if self.cfg.q_normalizer == "mean_abs_adv":
            with torch.no_grad():
                q = q - self.critic.value(obs)
        return q.abs().mean().clamp_min(1e-6)

    @torch.no_grad()
    def batch_q_scale(self, obs: Tensor, noise: Tensor) -> Tensor:
        """c over a whole policy batch, from a no-grad pass of the sampler (same noise)."""
        if not self.cfg.q_normalize:
            return obs.new_ones(())
        c = self.cfg
        act = self.policy.sample(obs, steps=c.grad_steps, solver=c.grad_solver, noise=noise)
        act = act.clamp(-1.0, 1.0) if c.q_clip else act
        return self.q_scale(self.critic.q_min(obs, act, target=True), obs)

    def policy_loss(
        self, obs: Tensor, noise: Tensor | None = None, scale: Tensor | None = None
    ) -> dict[str, Tensor]:
        """L_pi on ``obs`` ("loss", differentiable) and the batch means of its terms.

        ``noise``: the sampler's prior draw (default: a fresh one); ``scale``: the Q scale
        c (default: ``q_scale`` of this batch's Q).
        """
        c = self.cfg
        act, log_pi = self.policy.sample_with_log_prob(
            obs,
            steps=c.grad_steps,
            solver=c.grad_solver,
            divergence=c.divergence,
            noise=noise,
            checkpoint=c.grad_checkpoint,
        )
        log_mu = self.behaviour.log_prob(
            act,
            obs,
            steps=c.grad_steps,
            solver=c.grad_solver,
            divergence=c.divergence,
            checkpoint=c.grad_checkpoint,
        )
        q = self.critic.q_min(obs, act.clamp(-1.0, 1.0) if c.q_clip else act, target=True)
        q_term = c.beta * q / (self.q_scale(q, obs) if scale is None else scale)
        kl_bits = (log_pi - log_mu) / (self.act_dim * math.log(2.0))
        loss = (kl_bits - q_term).mean()
        terms = {"q": q, "q_term": q_term, "kl_bits": kl_bits, "log_pi": log_pi, "log_mu": log_mu}
        return {"loss": loss, **{k: v.detach().mean() for k, v in terms.items()}}

    def policy_backward(self, obs: Tensor) -> dict[str, Tensor]:
        """Zero the policy's gradients, then accumulate dL_pi/dtheta over ``obs`` into them.

        In micro-batches of ``policy_microbatch`` states (0: all at once), each loss scaled
        by its share of the batch; returns the batch means of the terms (detached).
        """
        c = self.cfg
        n = obs.shape[0]
        size = c.policy_microbatch if 0 < c.policy_microbatch < n else n
        self.policy_opt.zero_grad(set_to_none=True)
        noise = self.policy.draw_prior(obs)
        scale = self.batch_q_scale(obs, noise) if size < n else None
        totals: dict[str, Tensor] = {}
        for start in range(0, n, size):
            part = slice(start, start + size)
            terms = self.policy_loss(obs[part], noise[part], scale)
            share = obs[part].shape[0] / n
            (terms["loss"] * share).backward()
            for k, v in terms.items():
                v = v.detach() * share
                totals[k] = totals[k] + v if k in totals else v
        return totals

    def policy_update(self, obs: Tensor) -> dict[str, Tensor]:
        """One policy-gradient step on the states ``obs`` (the policy batch)."""
        terms = self.policy_backward(obs)
        grad_norm = clip_and_step(
            self.policy_opt,
            lr=self.scheduled_lr(start=self.cfg.pretrain_steps),
            grad_clip=self.cfg.grad_clip,
            report_norm=True,
        )
        self.update_policy_ema()
        out = {f"policy/{k}": v for k, v in terms.items()}
        assert grad_norm is not None
        out["policy/grad_norm"] = grad_norm
        return out

    def update(self, batch: BatchLike) -> dict[str, Tensor]:
        s, a = batch.observations, batch.actions
        if self.pretraining:
            out = {"behaviour/loss": self.behaviour_update(s, a)}
        else:
            out = self.policy_update(s[: self.cfg.policy_batch])
        out.update(
            self.critic.update(s, a, batch.rewards, batch.next_observations, batch.terminals)
        )
        self.num_updates += 1
        if self.num_updates == self.cfg.pretrain_steps:
            self.start_policy()
        return out

    def set_extra_state(self, state: object) -> None:
        super().set_extra_state(state)
        self.behaviour.requires_grad_(self.pretraining)

    def acting_weights(self) -> str:
        return "online" if self.pretraining else super().acting_weights()

    def act_normalized(self, obs: Tensor, act_cfg: ActConfig | None) -> Tensor:
        model = self.behaviour if self.pretraining else self.acting_policy()
        return self.sample_actions(model, obs, act_cfg)

    def speed_phases(self) -> list[str]:
        """Behaviour pretraining (if any), then the policy gradient."""
        return ["pretrain", "policy"] if self.cfg.pretrain_steps > 0 else ["policy"]

    def start_phase(self, phase: str) -> None:
        if phase == "policy":
            self.num_updates = self.cfg.pretrain_steps
            self.start_policy()
        else:
            super().start_phase(phase)
