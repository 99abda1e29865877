"""GMPO: generative model policy optimisation by advantage-weighted matching.

(arXiv 2412.01245.) The optimal KL-regularised policy is pi*(a|s) ∝ mu(a|s) exp(beta A(s, a)).
Any diffusion or flow model fits pi* by weighting its per-sample matching loss l_theta
on behaviour data with the (clamped) exponentiated advantage, so no behaviour
pretraining is needed:

    L_pi(theta) = E_(s,a)~D [ min(exp(beta (Qbar(s, a) - V(s))), w_max) * l_theta(a | s) ]

Qbar and V come from an IQL critic trained on the same batches (``genpolicy.rl.critics``).
Acting: one sample from the model's ODE (32 Euler steps by default), or N samples
ranked by Q.

Levers (off by default): ``critic_warmup`` = N trains the critic alone for the first N
updates (with an untrained critic exp(beta A) weights random samples by up to
``weight_clamp``); ``clone_warmup`` = N weights every sample 1 for the N policy updates
after it (the policy clones the data while the critic learns, then turns to it); ``ema`` > 0
acts with an EMA copy of the policy; ``weighting`` / ``self_normalize`` choose the weight
(``genpolicy.rl.algos.base.advantage_weights``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from genpolicy.errors import GenpolicyError
from genpolicy.generative.models import ModelConfig, build_model
from genpolicy.rl.algos.acting import ActConfig, check_act_config
from genpolicy.rl.algos.base import AlgoConfig, Algorithm, BatchLike, check_ema
from genpolicy.rl.algos.weighting import check_weighting, config_weights, weight_stats
from genpolicy.rl.critics import CriticConfig, IQLCritic


@dataclass
class GMPOConfig(AlgoConfig):
    name: str = "gmpo"
    batch_size: int = 4096
    lr: float = 1e-4
    beta: float = 8.0
    weight_clamp: float = 100.0
    weighting: str = "exp"  # exp | std_positive (genpolicy.rl.algos.base.advantage_weights)
    self_normalize: bool = False  # divide the weights by their batch mean
    min_ess: float = 0.0  # lower beta per batch so the weights' ESS stays >= this; 0: off
    clone_warmup: int = 0  # the first N policy updates weight every sample 1; 0: off
    ema: float = 0.0  # decay of the acting EMA copy of the policy; 0: act with the online weights
    act: ActConfig = field(default_factory=ActConfig)

    def validate(self) -> None:
        super().validate()
        if self.beta < 0:
            raise GenpolicyError(f"algo.beta must be >= 0, got {self.beta}")
        if self.clone_warmup < 0:
            raise GenpolicyError(
                f"algo.clone_warmup must be >= 0 (0: off), got {self.clone_warmup}"
            )
        check_weighting(self.weighting, self.weight_clamp, self.min_ess)
        check_ema(self.ema)
        check_act_config(self.act, has_critic=True)


class GMPO(Algorithm):
    name = "gmpo"
    requires = ("sample",)
    cfg: GMPOConfig

    def build(self, model_cfg: ModelConfig, critic_cfg: CriticConfig) -> None:
        self.policy = build_model(model_cfg, action_dim=self.act_dim, state_dim=self.obs_dim)
        self.critic = IQLCritic(self.obs_dim, self.act_dim, critic_cfg)
        self.policy_opt = torch.optim.Adam(self.policy.parameters(), lr=self.cfg.lr, foreach=True)
        self.init_policy_ema(self.cfg.ema)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"policy": self.policy_opt, "critic": self.critic.optimizer}

    def weights(self, obs: Tensor, act: Tensor) -> Tensor:
        """The per-sample weights of L_pi (no gradient)."""
        return config_weights(self.critic.advantage(obs, act), self.cfg, self.hyper("beta"))

    def policy_loss(
        self, obs: Tensor, act: Tensor, noise: dict[str, Tensor] | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """L_pi and the weights' statistics (``noise``: the model's loss draws)."""
        weight = self.weights(obs, act)
        return (weight * self.policy.loss(act, obs, noise)).mean(), weight_stats(weight)

    def clone_loss(
        self, obs: Tensor, act: Tensor, noise: dict[str, Tensor] | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """L_pi with every weight 1 (the ``clone_warmup`` phase): the matching loss on the data."""
        loss = self.policy.loss(act, obs, noise)
        return loss.mean(), weight_stats(torch.ones_like(loss))

    def phase(self) -> str:
        """ "warmup" during ``critic_warmup``, "clone" for the ``clone_warmup`` updates after
        it, then "train"."""
        c = self.cfg
        if self.critic_warming_up:
            return "warmup"
        return "clone" if self.num_updates < c.critic_warmup + c.clone_warmup else "train"

    def speed_phases(self) -> list[str]:
        return ["clone", "train"] if self.cfg.clone_warmup else ["train"]

    def start_phase(self, phase: str) -> None:
        super().start_phase(phase)  # checks the name, starts after the critic warm-up
        if phase == "train":
            self.num_updates += self.cfg.clone_warmup

    def step(self, batch: BatchLike, phase: str) -> dict[str, Tensor]:
        s, a = batch.observations, batch.actions
        policy_info: dict[str, Tensor] = {}
        if phase != "warmup":
            draw = self.policy.loss_noise
            loss_fn = self.clone_loss if phase == "clone" else None
            loss, policy_info = self.policy_step((s, a), lambda g: draw(a.shape[-2], a, g), loss_fn)
            self.policy.update_target()  # EMA target of flow-map models; no-op otherwise
            self.update_policy_ema()  # the acting copy (algo.ema)
            policy_info["policy/loss"] = loss
        info = self.critic.update(s, a, batch.rewards, batch.next_observations, batch.terminals)
        info.update(policy_info)
        return info

    def act_normalized(self, obs: Tensor, act_cfg: ActConfig | None) -> Tensor:
        return self.sample_actions(self.acting_policy(), obs, act_cfg)
