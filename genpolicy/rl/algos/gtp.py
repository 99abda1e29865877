"""GTP: generative trajectory policies, a flow map trained by value-weighted matching.

(Feng et al., arXiv 2510.11499.) The policy is the solution map of the generative ODE,
Phi_theta(a_t, t, tau | s) = (tau/t) a_t + (1 - tau/t) phi_theta(a_t, t, tau | s) on the VE
path a_t = a + t z (``genpolicy.generative.models.FlowMap``), so it acts in K = 1..5 deterministic
jumps from a_T ~ N(0, T^2 I). On behaviour data (s, a) it minimises

    L_pi(theta) = E [ w(s, a) ( ||Phi_theta(a_t, t, tau) - sg Phi_ema(a + u z, u, tau)||^2
                                + ||a - phi_theta(a_t, t, t)||^2 ) ],   t > u > tau,
    w(s, a)     = exp( eta max(0, A(s, a)) / (std_batch(A) + eps) ),

the consistency term against an EMA target at the data-anchored point a + u z (same z,
no ODE solver; ``model.anchored: false`` is the ablation with a few ODE steps of the EMA
model's own map instead) plus the flow (data-prediction) term. eta = 0 is plain
behaviour cloning of the flow map. Only positive advantages raise a sample's weight and
they are measured in batch standard deviations, so eta does not depend on the reward
scale. ``weight_clamp`` caps w (not in the paper; a guard against a stray large A).

Critic (``critic``):
  "td"   the paper's: twin Q trained on r + gamma (1 - d) min_i Qbar_i(s', a'), a' from the
         EMA actor (``td_steps`` jumps), Polyak targets; A(s, a) = min_i Q_i(s, a) -
         min_i Q_i(s, a_pi) with a_pi ~ EMA actor(s), a one-sample estimate of Q - V^pi.
  "iql"  the IQL critic shared with GMPO (in-sample expectile V); A = min Qbar - V.
The EMA actor (decay ``ema``; the shared ``Algorithm.policy_ema``) acts and supplies the
TD target's next action; with ``ema: 0`` the online policy does both.

Levers: ``weighting: exp`` uses min(exp(eta A), weight_clamp) instead; ``self_normalize``
divides the weights by their batch mean; ``critic_warmup`` = N trains the critic alone for
the first N updates.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import cast

import torch
from torch import Tensor

from genpolicy.errors import GenpolicyError
from genpolicy.generative.models import FlowMap, ModelConfig, build_model
from genpolicy.rl.algos.acting import ActConfig, check_act_config
from genpolicy.rl.algos.base import AlgoConfig, Algorithm, BatchLike, check_ema
from genpolicy.rl.algos.weighting import advantage_weights, check_weighting, weight_stats
from genpolicy.rl.critics import CRITICS, CriticConfig, IQLCritic, TDCritic, make_critic

__all__ = ["CRITICS", "GTP", "GTPConfig", "TDCritic"]


@dataclass
class GTPConfig(AlgoConfig):
    name: str = "gtp"
    batch_size: int = 256
    lr: float = 3e-4
    eta: float = 1.0  # advantage temperature; 0: behaviour cloning of the flow map
    eps: float = 1e-3  # added to std(A) in the weight
    weight_clamp: float = 100.0
    weighting: str = "std_positive"  # or exp: min(exp(eta A), weight_clamp)
    self_normalize: bool = False  # divide the weights by their batch mean
    min_ess: float = 0.0  # lower eta per batch so the weights' ESS stays >= this; 0: off
    critic: str = "iql"  # iql | td (see the module docstring and docs/algorithms/gtp.md)
    ema: float = 0.995  # EMA actor decay (acting and the TD target's next action); 0: off
    td_steps: int = 2  # flow-map jumps of the EMA actor for a' and a_pi (critic "td")
    anchored: bool | None = None  # None: keep model.anchored; True/False overrides it
    act: ActConfig = field(default_factory=ActConfig)  # steps None: the flow map's K = 2

    def validate(self) -> None:
        super().validate()
        if self.eta < 0:
            raise GenpolicyError(f"algo.eta must be >= 0, got {self.eta}")
        if self.eps <= 0 or self.weight_clamp < 1:
            raise GenpolicyError(
                f"algo.eps must be > 0 and algo.weight_clamp >= 1, "
                f"got {self.eps} and {self.weight_clamp}"
            )
        check_weighting(self.weighting, self.weight_clamp, self.min_ess)
        if self.critic not in CRITICS:
            raise GenpolicyError(
                f"algo.critic must be one of {tuple(CRITICS)}, got {self.critic!r}"
            )
        check_ema(self.ema)
        if self.td_steps < 1:
            raise GenpolicyError(f"algo.td_steps must be >= 1, got {self.td_steps}")
        check_act_config(self.act, has_critic=True)


class GTP(Algorithm):
    name = "gtp"
    requires = ("flow_map",)
    cfg: GTPConfig
    policy: FlowMap

    def build(self, model_cfg: ModelConfig, critic_cfg: CriticConfig) -> None:
        c, obs_dim, act_dim = self.cfg, self.obs_dim, self.act_dim
        c.validate()
        if c.anchored is not None:
            model_cfg = dataclasses.replace(model_cfg, anchored=c.anchored)
        # the "flow_map" capability (checked by genpolicy.rl.algos.check_model): a FlowMap
        self.policy = cast(FlowMap, build_model(model_cfg, action_dim=act_dim, state_dim=obs_dim))
        self.init_policy_ema(c.ema)
        self.critic: IQLCritic | TDCritic = make_critic(
            c.critic, obs_dim, act_dim, critic_cfg, actor=self.ema_actions
        )
        self.policy_opt = torch.optim.Adam(self.policy.parameters(), lr=c.lr, foreach=True)

    @property
    def actor_ema(self) -> FlowMap:
        """The acting actor: the EMA copy of the policy (``algo.ema`` > 0) or the policy."""
        actor: FlowMap = self.acting_policy()
        return actor

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"policy": self.policy_opt, "critic": self.critic.optimizer}

    # -- the paper's pieces --------------------------------------------------------------
    @torch.no_grad()
    def ema_actions(self, obs: Tensor) -> Tensor:
        """a ~ EMA actor(s) in ``td_steps`` jumps, clipped to the action box."""
        return self.actor_ema.sample(obs, steps=self.cfg.td_steps).clamp(-1.0, 1.0)

    @torch.no_grad()
    def advantage(self, obs: Tensor, act: Tensor, act_pi: Tensor | None = None) -> Tensor:
        """The critic's A(s, a) (TD critic: a_pi from the EMA actor unless given)."""
        return self.critic.advantage(obs, act, act_pi)

    def weights(self, adv: Tensor) -> Tensor:
        """w = exp(eta max(0, A) / (std(A) + eps)), capped at ``weight_clamp`` (by default)."""
        c = self.cfg
        return advantage_weights(
            adv, c.weighting, self.hyper("eta"), c.weight_clamp, c.eps, c.self_normalize, c.min_ess
        )

    def policy_loss(
        self,
        obs: Tensor,
        act: Tensor,
        a_pi: Tensor | None = None,
        noise: dict[str, Tensor] | None = None,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """The weighted loss and its terms (``a_pi``: the TD critic's a ~ pi(s); ``noise``:
        the model's loss draws)."""
        adv = self.advantage(obs, act, a_pi)
        w = self.weights(adv)
        terms = self.policy.loss_terms(act, obs, noise)
        mc = self.policy.cfg
        per_sample = mc.consistency_weight * terms["consistency"] + mc.flow_weight * terms["flow"]
        info = {
            "policy/consistency": terms["consistency"].mean().detach(),
            "policy/flow": terms["flow"].mean().detach(),
            "policy/adv_std": adv.std(),
            **weight_stats(w),
        }
        return (w * per_sample).mean(), info

    # -- one training step ----------------------------------------------------------------
    def step(self, batch: BatchLike, phase: str) -> dict[str, Tensor]:
        s, a, s2 = batch.observations, batch.actions, batch.next_observations
        a_pi = a2 = None
        if self.critic.uses_actor:  # TD critic: a_pi and a' in one sampler call for s and s'
            a_pi, a2 = self.ema_actions(torch.cat([s, s2])).chunk(2)
        info: dict[str, Tensor] = {}
        policy_info: dict[str, Tensor] = {}
        if phase != "warmup":
            draw, args = self.policy.loss_noise, (s, a) if a_pi is None else (s, a, a_pi)
            loss, info = self.policy_step(args, lambda g: draw(a.shape[-2], a, g))
            self.policy.update_target()  # the consistency target's EMA (model.ema)
            self.update_policy_ema()  # the acting policy's EMA (algo.ema)
            policy_info = {"policy/loss": loss}
        info.update(self.critic.update(s, a, batch.rewards, s2, batch.terminals, a2))
        info.update(policy_info)
        return info

    # -- acting ---------------------------------------------------------------------------
    def act_normalized(self, obs: Tensor, act_cfg: ActConfig | None) -> Tensor:
        return self.sample_actions(self.actor_ema, obs, act_cfg)
