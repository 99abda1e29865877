"""FQL: flow Q-learning, a one-step policy distilled from a flow BC policy and steered by Q.

(Park, Li, Levine, "Flow Q-Learning", ICML 2025, arXiv 2502.02538; public code
github.com/seohongpark/fql, agents/fql.py.) Three parts train together on each batch
(s, a, r, s'), z ~ N(0, I):

    L_flow(theta)  = E [ || v_theta(a_t, t | s) - (z - a) ||^2 ],  a_t = (1 - t) a + t z
    L_pi(omega)    = E [ -lambda mean_i Q_phi_i(s, clip(mu_omega(s, z)))
                         + alpha || mu_omega(s, z) - sg clip(mu_theta(s, z)) ||^2 ]
    L_Q(phi)       = E [ sum_i ( r + gamma (1 - d) agg_j Qbar_j(s', a') - Q_phi_i(s, a) )^2 ],
                     a' = clip(mu_omega(s', z'))

mu_theta(s, z) is the BC flow's ODE solution from the start noise z (``flow_steps`` Euler
steps, no gradient): the distillation target of the one-step policy mu_omega (an MLP on
[s, z], one forward pass). ``||.||^2`` is the mean over action dimensions (public code).
lambda = 1 as in the paper, or 1 / mean_batch |Q| with ``normalize_q`` (the public code's
option, off in the paper, which its authors recommend for new tasks). agg (``q_agg``) is
the mean over the two members (published default) or their min (clipped double Q). Our
path runs from data (t = 0) to noise (t = 1), the paper's the other way: same flow.

Acting (``act_with``): ``onestep`` (default) is clip(mu_omega(s, z)), one network call;
``flow`` samples the BC flow model instead (a comparison). ``act.noise_scale`` 0 acts with
z = 0; ``act.candidates`` N ranks N draws by Q. The model needs only ``sample`` with a
given start noise: a flow (published), a diffusion ODE or a flow map's jumps all give a
deterministic mu_theta(s, z).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import torch
from torch import Tensor, nn

from genpolicy.errors import GenpolicyError, unknown_name
from genpolicy.generative.models import ModelConfig, build_model
from genpolicy.generative.nets import mlp
from genpolicy.rl.algos.acting import ActConfig, check_act_config
from genpolicy.rl.algos.base import AlgoConfig, Algorithm, BatchLike
from genpolicy.rl.critics import Q_AGGS, CriticConfig, TDCritic, make_critic
from genpolicy.rl.optim import optimizer_step

ACT_WITH = ("onestep", "flow")


@dataclass
class FQLConfig(AlgoConfig):
    name: str = "fql"
    batch_size: int = 256
    lr: float = 3e-4  # one Adam over the BC flow and the one-step policy (published)
    alpha: float = 10.0  # distillation weight; tuned per task (public code's default 10)
    normalize_q: bool = False  # lambda = 1 / mean |Q| of the batch (published: off)
    q_agg: str = "mean"  # TD target over the critic members: mean (published) or min
    flow_steps: int = 10  # ODE steps of the distillation target mu_theta(s, z)
    flow_solver: str | None = None  # None: the model's (model.solver, else its default)
    hidden: int = 512  # one-step policy MLP (published: 4 x 512)
    depth: int = 4
    act_with: str = "onestep"  # onestep | flow (the BC flow model's sampler, for comparison)
    act: ActConfig = field(default_factory=ActConfig)  # steps/solver: act_with=flow only

    def validate(self) -> None:
        super().validate()
        if not self.alpha >= 0:
            raise GenpolicyError(f"algo.alpha must be >= 0, got {self.alpha}")
        if self.q_agg not in Q_AGGS:
            raise unknown_name("algo.q_agg", self.q_agg, Q_AGGS)
        if self.flow_steps < 1:
            raise GenpolicyError(f"algo.flow_steps must be >= 1, got {self.flow_steps}")
        if self.hidden < 1 or self.depth < 1:
            raise GenpolicyError(
                f"algo.hidden and algo.depth must be >= 1, got {self.hidden} and {self.depth}"
            )
        if self.act_with not in ACT_WITH:
            raise unknown_name("algo.act_with", self.act_with, ACT_WITH)
        check_act_config(self.act, has_critic=True)

    def samples_actions(self) -> bool:
        return self.act_with == "flow"


class OneStepPolicy(nn.Module):
    """mu_omega(s, z) = MLP([s, z]). ``sample`` and ``draw_prior`` follow the generative
    models', so acting (candidates, noise scale) goes through ``Algorithm.sample_actions``."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int, depth: int, std: float) -> None:
        super().__init__()
        self.net = mlp(obs_dim + act_dim, act_dim, hidden, depth)
        self.action_dim, self.std = act_dim, std  # z ~ N(0, std^2 I), the flow's prior

    def forward(self, states: Tensor, noise: Tensor) -> Tensor:
        return cast(Tensor, self.net(torch.cat([states, noise], dim=-1)))

    def draw_prior(self, states: Tensor, generator: torch.Generator | None = None) -> Tensor:
        shape = (states.shape[0], self.action_dim)
        z = torch.randn(shape, generator=generator, device=states.device, dtype=states.dtype)
        return z if self.std == 1.0 else z.mul_(self.std)

    def sample(
        self,
        states: Tensor,
        steps: int | None = None,
        solver: str | None = None,
        generator: torch.Generator | None = None,
        noise: Tensor | None = None,
    ) -> Tensor:
        """clip(mu_omega(s, z)) in one forward pass (``steps`` and ``solver`` do not apply)."""
        z = self.draw_prior(states, generator) if noise is None else noise
        return self(states, z).clamp(-1.0, 1.0)


class FQL(Algorithm):
    name = "fql"
    requires = ("sample",)  # mu_theta(s, z): the model's sampler from a given start noise
    cfg: FQLConfig
    policy: OneStepPolicy

    def build(self, model_cfg: ModelConfig, critic_cfg: CriticConfig) -> None:
        c, obs_dim, act_dim = self.cfg, self.obs_dim, self.act_dim
        c.validate()  # also when built without a RunConfig
        self.flow = build_model(model_cfg, action_dim=act_dim, state_dim=obs_dim)
        # the teacher's sampler; a solver the model cannot use fails here, in one line
        self.flow_sampler = type(self.flow).resolve_sampler(model_cfg, c.flow_steps, c.flow_solver)
        std = self.flow.prior_std()
        self.policy = OneStepPolicy(obs_dim, act_dim, c.hidden, c.depth, std)
        self.critic = cast(
            TDCritic,
            make_critic("td", obs_dim, act_dim, critic_cfg, self.onestep_actions, q_agg=c.q_agg),
        )
        params = [*self.flow.parameters(), *self.policy.parameters()]
        self.policy_opt = torch.optim.Adam(params, lr=c.lr, foreach=True)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"policy": self.policy_opt, "critic": self.critic.optimizer}

    @torch.no_grad()
    def onestep_actions(self, obs: Tensor) -> Tensor:
        """a = clip(mu_omega(s, z)), z ~ N(0, I): the TD target's next action."""
        return self.policy.sample(obs)

    @torch.no_grad()
    def flow_actions(self, obs: Tensor, noise: Tensor) -> Tensor:
        """clip(mu_theta(s, z)): the BC flow's ODE solution from ``noise`` (no gradient)."""
        steps, solver = self.flow_sampler
        return self.flow.sample(obs, steps=steps, solver=solver, noise=noise).clamp(-1.0, 1.0)

    def actor_loss(self, obs: Tensor, act: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """L_flow + L_pi (module docstring); the critic's weights get no gradient."""
        c = self.cfg
        flow_loss = self.flow.loss(act, obs).mean()
        z = self.flow.draw_prior(obs)
        a_pi = self.policy(obs, z)
        distill = (a_pi - self.flow_actions(obs, z)).square().mean()
        q = self.critic.q_values(obs, a_pi.clamp(-1.0, 1.0)).mean(dim=0)
        lam = 1.0 / q.abs().mean().detach().clamp_min(1e-6) if c.normalize_q else 1.0
        q_loss = -lam * q.mean()
        loss = flow_loss + c.alpha * distill + q_loss
        info = {"policy/flow_loss": flow_loss.detach(), "policy/distill": distill.detach()}
        return loss, {**info, "policy/q_loss": q_loss.detach(), "policy/q": q.mean().detach()}

    def step(self, batch: BatchLike, phase: str) -> dict[str, Tensor]:
        c, s, s2 = self.cfg, batch.observations, batch.next_observations
        # a' from the one-step policy before this step: published, both losses see the
        # same parameters (one joint step)
        a2 = self.onestep_actions(s2)
        info: dict[str, Tensor] = {}
        if phase != "warmup":
            # Q only steers the actor: optimizer_step differentiates the policy's weights only
            loss, info = self.actor_loss(s, batch.actions)
            optimizer_step(self.policy_opt, loss, lr=self.lr(), grad_clip=c.grad_clip)
            self.flow.update_target()  # a flow map's own EMA target; no-op for a flow
            info["policy/loss"] = loss.detach()
        info.update(self.critic.update(s, batch.actions, batch.rewards, s2, batch.terminals, a2))
        return info

    def act_normalized(self, obs: Tensor, act_cfg: ActConfig | None) -> Tensor:
        model = self.flow if self.cfg.act_with == "flow" else self.policy
        return self.sample_actions(model, obs, act_cfg)
