"""GMPG: generative model policy gradient through a differentiable ODE sampler.

(arXiv 2412.01245.) Two phases on the same step counter:

1. steps < pretrain_steps: fit the behaviour model mu by plain matching, and the IQL
   critic, on dataset batches.
2. then copy mu to the policy pi (mu is frozen from here on) and minimise

       L_pi(theta) = E_s E_(a, log pi(a|s)) ~ ODE_theta(s) [ -beta Q(s, a) / c
                      + (log pi_theta(a|s) - log mu(a|s)) / (d ln 2) ]

   with a and log pi from ONE differentiable pass of the sampling ODE with its divergence
   (``sample_with_log_prob``) and log mu(a|s) the frozen behaviour model's exact CNF
   likelihood at those actions; the KL term in bits per action dimension, as published.
   With ``entropy_weight`` alpha != 1 the KL term becomes (alpha log pi - log mu), whose
   minimiser is pi ~ (mu exp(beta Q / c))^(1 / alpha): alpha < 1 sharpens the tilted
   behaviour model towards its modes (alpha = 1: the published loss).

Cost and stability (docs/algorithms/index.md, "GMPG"): ``grad_steps`` RK4 steps with the exact
divergence instead of the public code's 1000 Euler steps with Hutchinson's estimator; a
policy batch (``policy_batch``) taken from the critic's; Q from the Polyak target; c = 1
(raw Q, ``q_normalize: false``, as published), the batch's mean |Q| or, with
``q_normalizer: mean_abs_adv``, its mean |Q - V(s)| (the spread of Q across actions, which
sets how far pi tilts); ``q_clip`` reads Q at the clipped action. Memory:
``policy_microbatch`` (default 256) backpropagates m states at a time into one optimiser step
(the prior draw and c are taken for the whole batch first, so the gradient is the full
batch's), so a step's memory does not grow with the policy batch, and ``grad_checkpoint``
(default on) recomputes each solver step's activations in the backward pass. The
learning-rate schedule runs twice (behaviour over pretraining, then the policy); ``ema``
acts with an EMA copy of pi, reset to mu when phase 2 starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from genpolicy.generative.models import ModelConfig, build_model
from genpolicy.rl.algos.acting import ActConfig, check_act_config
from genpolicy.rl.algos.base import AlgoConfig, Algorithm, BatchLike, check, check_ema
from genpolicy.rl.critics import CriticConfig, IQLCritic
from genpolicy.rl.optim import backward_in_parts, clip_and_step, zero_grads


@dataclass
class GMPGConfig(AlgoConfig):
    name: str = "gmpg"
    batch_size: int = 4096  # behaviour-model and critic batch
    lr: float = 1e-5  # policy learning rate
    grad_clip: float = 1.0
    beta: float = 1.0
    entropy_weight: float = 1.0  # alpha on log pi in the KL term; < 1 sharpens pi (1: published)
    pretrain_steps: int = 100_000
    behaviour_lr: float = 1e-4
    policy_batch: int = 256
    grad_steps: int = 10  # ODE steps of the differentiable sampler and of log mu
    grad_solver: str = "rk4"
    divergence: str = "exact"  # or "hutchinson"
    q_normalize: bool = True
    q_normalizer: str = "mean_abs_q"  # c: mean |Q|, or "mean_abs_adv": mean |Q - V(s)|
    q_clip: bool = False  # Q at the action clipped to [-1, 1], as a MuJoCo task executes it
    ema: float = 0.0  # decay of the acting EMA copy of the policy; 0: act with the online weights
    # states per backward pass of the policy step (memory stays bounded whatever policy_batch
    # is: ~4 GB at 256 states for the published networks); 0: the whole batch at once
    policy_microbatch: int = 256
    # recompute each solver step's activations in the backward pass: for the published network
    # at 20 RK4 steps, 0.9 GB instead of 14.2 GB per 256 states, and no slower on a CPU
    grad_checkpoint: bool = True
    act: ActConfig = field(default_factory=ActConfig)

    supports_critic_warmup = False  # pretrain_steps is its critic (and behaviour) phase

    @property
    def pretrain_updates(self) -> int:
        return self.pretrain_steps

    def validate(self) -> None:
        check(
            not self.critic_warmup,
            "GMPG trains its critic alone with the behaviour model during pretraining: "
            "set algo.pretrain_steps instead of algo.critic_warmup",
        )
        super().validate()
        check_ema(self.ema)
        n, m, whole = self.policy_batch, self.policy_microbatch, "(0: the whole batch at once)"
        lr, pre, alpha = self.behaviour_lr, self.pretrain_steps, self.entropy_weight
        for ok, message in [
            (lr > 0, f"algo.behaviour_lr must be > 0, got {lr}"),
            (self.beta >= 0, f"algo.beta must be >= 0, got {self.beta}"),
            (alpha >= 0, f"algo.entropy_weight must be >= 0 (1: the published KL), got {alpha}"),
            (pre >= 0, f"algo.pretrain_steps must be >= 0, got {pre}"),
            (
                1 <= n <= self.batch_size,
                f"algo.policy_batch must be in [1, algo.batch_size], got {n}",
            ),
            (m >= 0, f"algo.policy_microbatch must be >= 0 {whole}, got {m}"),
            (self.grad_steps >= 1, f"algo.grad_steps must be >= 1, got {self.grad_steps}"),
            (
                self.q_normalizer in ("mean_abs_q", "mean_abs_adv"),
                "algo.q_normalizer must be 'mean_abs_q' or 'mean_abs_adv', "
                f"got {self.q_normalizer!r}",
            ),
            (
                self.divergence in ("exact", "hutchinson"),
                f"algo.divergence must be 'exact' or 'hutchinson', got {self.divergence!r}",
            ),
        ]:
            check(ok, message)
        check_act_config(self.act, has_critic=True)


class GMPG(Algorithm):
    name = "gmpg"
    requires = ("log_prob",)
    cfg: GMPGConfig

    def build(self, model_cfg: ModelConfig, critic_cfg: CriticConfig) -> None:
        c = self.cfg
        self.init_behaviour(model_cfg, c.behaviour_lr)
        self.policy: Any = build_model(model_cfg, action_dim=self.act_dim, state_dim=self.obs_dim)
        self.critic = IQLCritic(self.obs_dim, self.act_dim, critic_cfg)
        self.policy_opt = torch.optim.Adam(self.policy.parameters(), lr=c.lr, foreach=True)
        self.init_policy_ema(c.ema)
        self.policy_started = False  # pi <- mu happens once, when pretraining ends
        if c.pretrain_steps == 0:
            self.start_policy()

    # the policy gradient (micro-batched backward passes through a checkpointed sampler)
    # stays eager under train.compile: its accumulated gradients do not trace
    eager_phases = ("policy",)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        opts = (self.behaviour_opt, self.policy_opt, self.critic.optimizer)
        return dict(zip(("behaviour", "policy", "critic"), opts, strict=True))

    def start_policy(self) -> None:
        """pi <- mu (and its EMA copy <- mu); mu is frozen from now on."""
        self.policy.load_state_dict(self.behaviour.state_dict())
        self.reset_policy_ema()
        self.behaviour.requires_grad_(False)
        self.policy_started = True

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
        kw = {"steps": c.grad_steps, "solver": c.grad_solver, "divergence": c.divergence}
        kw["checkpoint"] = c.grad_checkpoint
        act, log_pi = self.policy.sample_with_log_prob(obs, noise=noise, **kw)
        log_mu = self.behaviour.log_prob(act, obs, **kw)
        q = self.critic.q_min(obs, act.clamp(-1.0, 1.0) if c.q_clip else act, target=True)
        q_term = c.beta * q / (self.q_scale(q, obs) if scale is None else scale)
        bits = self.act_dim * math.log(2.0)
        kl_bits = (log_pi - log_mu) / bits
        kl_term = (c.entropy_weight * log_pi - log_mu) / bits  # = kl_bits at alpha = 1
        loss = (kl_term - q_term).mean()
        terms = {"q": q, "q_term": q_term, "kl_bits": kl_bits, "log_pi": log_pi, "log_mu": log_mu}
        return {"loss": loss, **{k: v.detach().mean() for k, v in terms.items()}}

    def policy_backward(self, obs: Tensor) -> dict[str, Tensor]:
        """Zero the policy's gradients, then accumulate dL_pi/dtheta over ``obs`` into them.

        In micro-batches of ``policy_microbatch`` states (0: all at once), each loss scaled
        by its share of the batch; returns the batch means of the terms (detached).
        """
        n, m = obs.shape[0], self.cfg.policy_microbatch
        zero_grads(self.policy_opt)
        noise = self.policy.draw_prior(obs)
        scale = self.batch_q_scale(obs, noise) if 0 < m < n else None
        return backward_in_parts(lambda p: self.policy_loss(obs[p], noise[p], scale), n, m)

    def policy_update(self, obs: Tensor) -> dict[str, Tensor]:
        """One policy-gradient step on the states ``obs`` (the policy batch)."""
        terms = self.policy_backward(obs)
        grad_norm = clip_and_step(
            self.policy_opt,
            lr=self.lr(),
            grad_clip=self.cfg.grad_clip,
            report_norm=True,
        )
        self.update_policy_ema()
        assert grad_norm is not None
        return {f"policy/{k}": v for k, v in terms.items()} | {"policy/grad_norm": grad_norm}

    def phase(self) -> str:
        return self.pretrain_phase()

    def phase_lr(self, phase: str) -> float:
        return self.pretrain_phase_lr(phase, self.cfg.behaviour_lr)

    def step(self, batch: BatchLike, phase: str) -> dict[str, Tensor]:
        s, a = batch.observations, batch.actions
        if phase == "pretrain":
            out = self.pretrain_step(s, a)
        else:
            out = self.policy_update(s[: self.cfg.policy_batch])
        out.update(
            self.critic.update(s, a, batch.rewards, batch.next_observations, batch.terminals)
        )
        return out

    def update(self, batch: BatchLike) -> dict[str, Tensor]:
        out = super().update(batch)
        if not self.pretraining and not self.policy_started:  # the update that ends pretraining
            self.start_policy()
        return out

    def get_extra_state(self) -> Any:
        return super().get_extra_state() | {"policy_started": self.policy_started}

    def set_extra_state(self, state: Any) -> None:
        super().set_extra_state(state)
        self.policy_started = bool(state["policy_started"])
        self.behaviour.requires_grad_(self.pretraining)

    def load_training_state(self, state: dict[str, Any], strict: bool = True) -> None:
        """As the base class; a checkpoint saved in pretraining and loaded at or past this
        config's ``pretrain_steps`` (a branch such as ``train.init_from`` of a longer
        pretraining's ``step19000`` with ``pretrain_steps: 19000``) starts pi from the loaded
        mu, as the update that ends pretraining would have."""
        super().load_training_state(state, strict=strict)
        if not self.pretraining and not self.policy_started:
            self.start_policy()

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
