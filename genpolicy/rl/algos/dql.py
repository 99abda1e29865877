"""Diffusion-QL: behaviour cloning plus Q maximisation through a differentiable sampler.

(Wang, Hunt and Zhou, arXiv 2208.06193.) The policy pi_theta is a generative model; on
behaviour data it minimises

    L_pi(theta) = E_(s,a)~D [ l_theta(a | s) ]  -  eta E_s [ Q_i(s, a_pi) ] / E_s |Q_j(s, a_pi)|,
    a_pi = clip(sample_theta(s), -1, 1)

the matching loss (the BC term) minus eta times the Q of actions drawn through the
model's own sampler WITH gradients (``model.sample`` with grad on: the chain of ``grad_steps`` steps
of ``grad_solver`` is backpropagated through), normalised by the batch mean |Q| of the
other critic member (detached); i is one of the twin Q members drawn at random each step
and j the other, as in the public code. The critic is the TD critic
(``genpolicy.rl.critics.TDCritic``): clipped double Q with the target

    y = r + gamma (1 - d) min_i Qbar_i(s', a'),   a' ~ pi_ema(s')

from the target policy pi_ema, an EMA copy of pi (decay ``ema``, updated every
``ema_every`` updates from update ``ema_start`` on; before that it is a copy of pi).
With ``backup_samples`` = k > 1 the target is the max-Q backup min_i max_j Qbar_i(s', a'_j)
over k draws (the public code's AntMaze setting, k = 10). The policy's gradient norm is
clipped at ``grad_clip``, the critic's at ``critic.grad_clip`` (the public code clips both
at the same per-dataset value).

Acting: ``act.candidates`` samples from the online policy (``act_with_ema`` for the EMA
copy) ranked by the shared ``q_for_ranking`` (highest min_i Q_i). The public code draws
50 samples and picks one with probability softmax(Qbar_min) instead.

Differences from the public code: its policy is a discrete 5-step DDPM (VP schedule,
x0-clipping at every step) and a_pi comes from that stochastic reverse chain; here a_pi
comes from the path's sampler (ODE solver, or ``sde`` for a diffusion model), with
``grad_steps`` / ``grad_solver`` defaulting to the model's own sampler (``model.steps``
/ ``model.solver``), the same one acting uses, so the Q term trains the sampler that
acts. The critic's learning rate stays constant (the public code decays it with the
actor's when ``--lr_decay``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from genpolicy.errors import GenpolicyError
from genpolicy.generative.models import ModelConfig, build_model
from genpolicy.rl.algos.acting import ActConfig, check_act_config
from genpolicy.rl.algos.base import AlgoConfig, Algorithm, BatchLike, check_ema
from genpolicy.rl.critics import CriticConfig, TDCritic, make_critic
from genpolicy.rl.optim import optimizer_step


@dataclass
class DQLConfig(AlgoConfig):
    name: str = "dql"
    batch_size: int = 256
    lr: float = 3e-4
    grad_clip: float = 1.0  # public code: 1 to 10 per dataset (its `gn`)
    eta: float = 1.0  # weight of the normalised Q term
    grad_steps: int | None = None  # differentiable sampler's steps; None: the model's own
    grad_solver: str | None = None  # likewise
    ema: float = 0.995  # target policy (TD target's a'); 0: the online policy
    ema_every: int = 5
    ema_start: int = 1000  # updates before the EMA starts averaging (it copies pi until then)
    backup_samples: int = 1  # k > 1: max-Q backup over k next actions (public: 10, AntMaze)
    act_with_ema: bool = False  # act with the EMA copy (the public code acts with pi)
    act: ActConfig = field(default_factory=lambda: ActConfig(candidates=50))

    def validate(self) -> None:
        super().validate()
        if self.eta < 0:
            raise GenpolicyError(f"algo.eta must be >= 0, got {self.eta}")
        if self.grad_steps is not None and self.grad_steps < 1:
            raise GenpolicyError(f"algo.grad_steps must be >= 1 (or None), got {self.grad_steps}")
        check_ema(self.ema)
        if self.ema_every < 1 or self.ema_start < 0:
            raise GenpolicyError(
                "algo.ema_every must be >= 1 and algo.ema_start >= 0, "
                f"got {self.ema_every} and {self.ema_start}"
            )
        if self.backup_samples < 1:
            raise GenpolicyError(f"algo.backup_samples must be >= 1, got {self.backup_samples}")
        check_act_config(self.act, has_critic=True)


class DQL(Algorithm):
    name = "dql"
    requires = ("sample",)
    cfg: DQLConfig
    critic: TDCritic

    def build(self, model_cfg: ModelConfig, critic_cfg: CriticConfig) -> None:
        c, obs_dim, act_dim = self.cfg, self.obs_dim, self.act_dim
        self.policy: Any = build_model(model_cfg, action_dim=act_dim, state_dim=obs_dim)
        # (steps, solver) of the differentiable sampler; a solver the model lacks fails here
        self.grad_sampler = self.policy.resolve_sampler(model_cfg, c.grad_steps, c.grad_solver)
        self.init_policy_ema(c.ema)
        critic = make_critic(
            "td", obs_dim, act_dim, critic_cfg, self.target_actions, c.backup_samples
        )
        assert isinstance(critic, TDCritic)
        self.critic = critic
        self.policy_opt = torch.optim.Adam(self.policy.parameters(), lr=c.lr, foreach=True)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"policy": self.policy_opt, "critic": self.critic.optimizer}

    def pi_sample(self, model: Any, obs: Tensor) -> Tensor:
        """a = clip(model's sample, -1, 1) with the differentiable sampler's settings."""
        steps, solver = self.grad_sampler
        return model.sample(obs, steps=steps, solver=solver).clamp(-1.0, 1.0)

    @torch.no_grad()
    def target_actions(self, obs: Tensor) -> Tensor:
        """a' ~ pi_ema(s') for the TD target (the online policy when ``ema`` is 0)."""
        model = self.policy_ema if self.policy_ema is not None else self.policy
        return self.pi_sample(model, obs)

    def policy_loss(self, obs: Tensor, act: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        bc = self.policy.loss(act, obs).mean()
        q = self.critic.q_values(obs, self.pi_sample(self.policy, obs))  # (n_q, B), online
        i = torch.randint(q.shape[0], (1,), device=q.device)  # indexed on the device
        q_i, q_j = q.index_select(0, i)[0], q.index_select(0, (i + 1) % q.shape[0])[0]
        q_term = q_i.mean() / q_j.detach().abs().mean().clamp_min(1e-6)
        loss = bc - self.cfg.eta * q_term
        info = {"policy/bc_loss": bc.detach(), "policy/q_term": q_term.detach()}
        info["policy/q"] = q.detach().min(dim=0).values.mean()
        return loss, info

    def ema_action(self) -> str:
        """What this update does to the EMA (every ``ema_every`` updates): "copy" pi into
        it before ``ema_start``, then "average" it in (decay ``ema``); "" in between."""
        c = self.cfg
        if self.num_updates % c.ema_every:
            return ""
        return "copy" if self.num_updates < c.ema_start else "average"

    def phase(self) -> str:
        """ "warmup" or "train", with "+copy" / "+average" on the updates that step the EMA."""
        ema = self.ema_action()
        return f"{super().phase()}+{ema}" if ema else super().phase()

    def step(self, batch: BatchLike, phase: str) -> dict[str, Tensor]:
        s, a = batch.observations, batch.actions
        info = self.critic.update(s, a, batch.rewards, batch.next_observations, batch.terminals)
        if not phase.startswith("warmup"):
            loss, policy_info = self.policy_loss(s, a)
            grad_norm = optimizer_step(
                self.policy_opt,
                loss,
                lr=self.lr(),
                grad_clip=self.cfg.grad_clip,
                report_norm=True,
            )
            assert grad_norm is not None
            self.policy.update_target()  # EMA target of flow-map models; no-op otherwise
            info.update(policy_info)
            info.update({"policy/loss": loss.detach(), "policy/grad_norm": grad_norm})
        if phase.endswith("+copy"):
            self.reset_policy_ema()
        elif phase.endswith("+average"):
            self.update_policy_ema()
        return info

    def acting_policy(self) -> Any:
        if self.cfg.act_with_ema and self.policy_ema is not None:
            return self.policy_ema
        return self.policy

    def acting_weights(self) -> str:
        return "ema" if self.acting_policy() is not self.policy else "online"

    def act_normalized(self, obs: Tensor, act_cfg: ActConfig | None) -> Tensor:
        return self.sample_actions(self.acting_policy(), obs, act_cfg)
