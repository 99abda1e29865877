"""IDQL: implicit Q-learning as an actor-critic method with a generative behaviour model.

(Hansen-Estruch et al., arXiv 2304.10573.) Three pieces, trained independently on the
same batches:

* the IQL critic (``genpolicy.rl.critics.IQLCritic``): V(s) is the tau-expectile of
  Qbar(s, a) over the behaviour's actions, Q is fitted to r + gamma V(s'),
* a behaviour model mu(a|s), any generative model, fitted by plain matching:
  L_mu = E_(s,a)~D [ l_theta(a | s) ] (no weights: the critic never touches it),
* the implicit actor that IQL's critic objective induces. For a critic loss
  E[f(Q(s, a) - V(s))] with convex f, V is the value of

      pi_imp(a|s) ∝ mu(a|s) w(s, a),   w(s, a) = f'(u) / u,   u = Qbar(s, a) - V(s),

  and for the expectile f(u) = |tau - 1(u < 0)| u^2 that is w(s, a) = |tau - 1(u < 0)|
  (up to a constant factor: tau for actions above V, 1 - tau below; the division by
  |u| belongs to the quantile loss f(u) = |tau - 1(u < 0)| |u|).

Acting draws N = ``act.candidates`` actions from mu (``sample_actions``) and picks one
(``select``):

* ``weighted``: resampled with probability w(s, a_i) / sum_j w(s, a_j), a sample of
  pi_imp (self-normalised importance sampling),
* ``greedy``: the candidate with the highest min_i Q_i(s, a) (the shared
  ``q_for_ranking``), what the public code evaluates (``eval_actions``).

Published settings (public code, launcher/examples/train_ddpm_iql_offline.py): a 5-step
DDPM (VP schedule) with an LN-ResNet, lr 3e-4 with cosine decay over the run, N = 64
candidates at training-time evaluations (16 / 64 / 256 swept at inference), expectile
0.7 (0.9 AntMaze), sampling with a target copy of the score network (Polyak 0.001, our
``ema`` 0.999). Here mu samples with its own sampler (``act.steps`` / ``act.solver``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from genpolicy.errors import unknown_name
from genpolicy.generative.models import ModelConfig, build_model
from genpolicy.rl.algos.acting import ActConfig, check_act_config, select_weighted
from genpolicy.rl.algos.base import AlgoConfig, Algorithm, BatchLike, check_ema
from genpolicy.rl.critics import CriticConfig, IQLCritic
from genpolicy.rl.optim import optimizer_step

SELECTIONS = ("greedy", "weighted")


@dataclass
class IDQLConfig(AlgoConfig):
    name: str = "idql"
    batch_size: int = 256
    lr: float = 3e-4  # the behaviour model's
    select: str = "greedy"  # greedy: highest Q | weighted: resample by w(s, a)
    ema: float = 0.999  # decay of the behaviour model's acting copy; 0: act with the online one
    act: ActConfig = field(default_factory=lambda: ActConfig(candidates=64))

    supports_critic_warmup = False  # the behaviour model never reads the critic

    def validate(self) -> None:
        super().validate()
        if self.select not in SELECTIONS:
            raise unknown_name("algo.select", self.select, SELECTIONS)
        check_ema(self.ema)
        check_act_config(self.act, has_critic=True)


class IDQL(Algorithm):
    name = "idql"
    requires = ("sample",)
    cfg: IDQLConfig
    critic: IQLCritic

    def build(self, model_cfg: ModelConfig, critic_cfg: CriticConfig) -> None:
        self.policy = build_model(model_cfg, action_dim=self.act_dim, state_dim=self.obs_dim)  # mu
        self.critic = IQLCritic(self.obs_dim, self.act_dim, critic_cfg)
        self.policy_opt = torch.optim.Adam(self.policy.parameters(), lr=self.cfg.lr, foreach=True)
        self.init_policy_ema(self.cfg.ema)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"policy": self.policy_opt, "critic": self.critic.optimizer}

    def implicit_weights(self, obs: Tensor, act: Tensor) -> Tensor:
        """w(s, a) = |tau - 1(Qbar(s, a) - V(s) < 0)|: pi_imp's density ratio to mu."""
        tau = self.critic.cfg.expectile
        adv = self.critic.advantage(obs, act)
        return torch.where(adv < 0, 1.0 - tau, tau)

    def step(self, batch: BatchLike, phase: str) -> dict[str, Tensor]:
        s, a = batch.observations, batch.actions
        loss = self.policy.loss(a, s).mean()
        optimizer_step(self.policy_opt, loss, lr=self.lr(), grad_clip=self.cfg.grad_clip)
        self.policy.update_target()  # EMA target of flow-map models; no-op otherwise
        self.update_policy_ema()
        info = self.critic.update(s, a, batch.rewards, batch.next_observations, batch.terminals)
        info["policy/loss"] = loss.detach()
        return info

    def act_normalized(self, obs: Tensor, act_cfg: ActConfig | None) -> Tensor:
        if self.cfg.select == "weighted":
            return self.sample_actions(
                self.acting_policy(), obs, act_cfg, self.implicit_weights, select_weighted
            )
        return self.sample_actions(self.acting_policy(), obs, act_cfg)
