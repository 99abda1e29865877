"""QGPO: Q-guided policy optimisation with contrastive energy prediction (CEP).

(Lu, Chen, Chen, Su, Li and Zhu, 2023, arXiv 2304.12824.) The target policy
pi(a|s) ∝ mu(a|s) exp(beta Q(s, a)) is sampled from the behaviour diffusion model mu by
adding the gradient of a learned intermediate energy f_phi(a_t, t, s) ≈ -E_t to its score:

    grad log pi_t(a_t|s) = grad log mu_t(a_t|s) + s_g grad_a f_phi(a_t, t, s).

Two phases on one step counter:

1. steps < pretrain_steps: mu by plain matching on dataset batches.
2. then (mu frozen), on ``critic_batch`` states with M support actions a_i ~ mu(s),
   a'_i ~ mu(s'). With ``support_mode: dataset`` (the paper's scheme) they are drawn once
   for every dataset row, at the first update of phase 2, and kept (2 N M act_dim floats
   for N rows, at most ``support_max_mb``); the updates then only index them. With
   ``support_mode: fresh`` they are drawn for each batch instead.
   * in-support softmax Q-learning (twin Q, Polyak target Qbar):
         L_Q = E [ sum_k ( r + gamma (1 - d) sum_i softmax_i(alpha_Q Qbar(s', a'_i))
                   Qbar(s', a'_i) - Q_k(s, a) )^2 ],   Qbar = min over the twins;
   * CEP with one t per state, a_{t,i} = alpha_t a_i + sigma_t z_i:
         L_f = -E_(s,t) sum_i softmax_i(beta Qbar(s, a_i)) log softmax_i(f_phi(a_{t,i}, t, s)).

Acting: the model's ODE sampler with the guided score (``sample(guidance=...)``; the
public code uses DPM-Solver-2 with 15 steps, the shipped configs 15 Euler steps, the same
number of network calls), or N guided samples ranked by Q. Before phase 2 it acts with
the unguided behaviour model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from genpolicy.errors import GenpolicyError, unknown_name
from genpolicy.generative.models import ModelConfig
from genpolicy.generative.models.ode import Guidance
from genpolicy.generative.nets import ConditionalMLP
from genpolicy.rl.algos.acting import ActConfig, check_act_config
from genpolicy.rl.algos.base import AlgoConfig, Algorithm, BatchLike
from genpolicy.rl.critics import CriticConfig, make_critic
from genpolicy.rl.optim import optimizer_step

SUPPORT_MODES = ("dataset", "fresh")
SUPPORT_CHUNK = 65_536  # sampled actions per sampler call when the support set is drawn


def support_bytes(rows: int, support: int, act_dim: int) -> int:
    """Memory of a stored support set: M actions for each row's state and next state."""
    return 2 * rows * support * act_dim * 4


@dataclass
class QGPOConfig(AlgoConfig):
    name: str = "qgpo"
    batch_size: int = 4096  # behaviour-model batch
    lr: float = 3e-4  # energy model f_phi
    behaviour_lr: float = 1e-4
    pretrain_steps: int = 600_000
    critic_batch: int = 256  # states per Q / CEP step (the first rows of the batch)
    support: int = 16  # M support actions per state
    support_steps: int | None = None  # sampler steps of the support actions; None: act's
    support_solver: str | None = None  # and their solver; None: act's
    support_mode: str = "dataset"  # dataset: drawn once per dataset row | fresh: per batch
    support_max_mb: float = 4096.0  # cap on the stored support actions (support_mode dataset)
    beta: float = 3.0  # CEP temperature: pi ∝ mu exp(beta Q)
    q_alpha: float = 1.0  # softmax temperature of the in-support Q backup
    guidance_scale: float = 1.0  # s_g
    energy_hidden: int = 256
    energy_depth: int = 4
    act: ActConfig = field(default_factory=ActConfig)

    supports_critic_warmup = False  # phase 1 trains the behaviour model alone

    @property
    def pretrain_updates(self) -> int:
        return self.pretrain_steps

    def validate(self) -> None:
        super().validate()
        if not self.behaviour_lr > 0:
            raise GenpolicyError(f"algo.behaviour_lr must be > 0, got {self.behaviour_lr}")
        if self.pretrain_steps < 0:
            raise GenpolicyError(f"algo.pretrain_steps must be >= 0, got {self.pretrain_steps}")
        if not 1 <= self.critic_batch <= self.batch_size:
            raise GenpolicyError(
                f"algo.critic_batch must be in [1, algo.batch_size={self.batch_size}], "
                f"got {self.critic_batch}"
            )
        if self.support < 2:
            raise GenpolicyError(f"algo.support must be >= 2 (CEP contrasts), got {self.support}")
        if self.support_mode not in SUPPORT_MODES:
            raise unknown_name("algo.support_mode", self.support_mode, SUPPORT_MODES)
        if not self.support_max_mb > 0:
            raise GenpolicyError(f"algo.support_max_mb must be > 0, got {self.support_max_mb}")
        if self.support_steps is not None and self.support_steps < 1:
            raise GenpolicyError(f"algo.support_steps must be >= 1, got {self.support_steps}")
        for key in ("beta", "q_alpha", "guidance_scale"):
            if not getattr(self, key) >= 0:
                raise GenpolicyError(f"algo.{key} must be >= 0, got {getattr(self, key)}")
        if self.energy_hidden < 1 or self.energy_depth < 1:
            raise GenpolicyError(
                "algo.energy_hidden and algo.energy_depth must be >= 1, "
                f"got {self.energy_hidden} and {self.energy_depth}"
            )
        check_act_config(self.act, has_critic=True)


class _Guided:
    """A model whose ``sample`` adds the energy guidance of the states it is given."""

    def __init__(self, model: Any, guidance: Any) -> None:
        self.model, self.guidance = model, guidance

    def draw_prior(self, states: Tensor, generator: torch.Generator | None = None) -> Tensor:
        out: Tensor = self.model.draw_prior(states, generator)
        return out

    def sample(self, states: Tensor, **kw: Any) -> Tensor:
        out: Tensor = self.model.sample(states, guidance=self.guidance(states), **kw)
        return out


class QGPO(Algorithm):
    name = "qgpo"
    requires = ("score",)
    cfg: QGPOConfig

    def build(self, model_cfg: ModelConfig, critic_cfg: CriticConfig) -> None:
        c = self.cfg
        self.init_behaviour(model_cfg, c.behaviour_lr)
        self.energy = ConditionalMLP(
            self.act_dim,
            self.obs_dim,
            1,
            hidden=c.energy_hidden,
            depth=c.energy_depth,
            time_dim=model_cfg.time_dim,
            activation="silu",
        )
        self.critic = make_critic("td", self.obs_dim, self.act_dim, critic_cfg)
        self.energy_opt = torch.optim.Adam(self.energy.parameters(), lr=c.lr, foreach=True)
        self.data: tuple[Tensor, Tensor, Tensor] | None = None  # states, next states, terminals
        self.bank: tuple[Tensor, Tensor] | None = None  # support actions of each row
        self.support_seed: int | None = None  # the bank's noise (kept in checkpoints)

    def attach_dataset(self, dataset: Any) -> None:
        c = self.cfg
        if c.support_mode != "dataset":
            return
        need = support_bytes(len(dataset), c.support, self.act_dim)
        if need > c.support_max_mb * 2**20:
            raise GenpolicyError(
                f"QGPO's support actions for {len(dataset)} rows x {c.support} would take "
                f"{need / 2**20:.0f} MB, over algo.support_max_mb={c.support_max_mb:g}: raise "
                "it, lower algo.support, or set algo.support_mode=fresh"
            )
        obs, next_obs = dataset.normalized_observations()
        dev = self.device
        self.data = (obs.to(dev), next_obs.to(dev), dataset.terminals.to(dev))
        self.bank = None

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        opts = {"behaviour": self.behaviour_opt, "energy": self.energy_opt}
        return {**opts, "critic": self.critic.optimizer}

    # -- the paper's pieces --------------------------------------------------------------
    @torch.no_grad()
    def support_actions(self, obs: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """M actions per state from the behaviour model, (B, M, act_dim), in [-1, 1]."""
        c = self.cfg
        steps = c.support_steps if c.support_steps is not None else c.act.steps
        solver = c.support_solver if c.support_solver is not None else c.act.solver
        rep = obs.repeat_interleave(c.support, dim=0)
        acts = self.behaviour.sample(rep, steps=steps, solver=solver, generator=generator)
        return acts.clamp(-1.0, 1.0).view(obs.shape[0], c.support, self.act_dim)

    @torch.no_grad()
    def draw_support_bank(self) -> tuple[Tensor, Tensor]:
        """The support actions of every dataset row's state and next state (the next states
        of terminal rows get zeros: their backup does not bootstrap), drawn in chunks from a
        generator seeded with ``support_seed``: the same weights give the same bank, so a
        resumed run draws it again instead of storing it."""
        if self.data is None:
            raise GenpolicyError(
                "QGPO with algo.support_mode=dataset needs the dataset: call "
                "algo.attach_dataset(dataset) before training (the trainer does)"
            )
        if self.support_seed is None:
            self.support_seed = int(torch.randint(0, 2**62, ()).item())
        gen = torch.Generator(device=self.device).manual_seed(self.support_seed)
        obs, next_obs, terminals = self.data
        live = torch.nonzero(terminals == 0).squeeze(1)
        chunk = max(1, SUPPORT_CHUNK // self.cfg.support)
        sup = torch.cat([self.support_actions(o, gen) for o in obs.split(chunk)])
        sup2 = torch.zeros_like(sup)
        for rows in live.split(chunk) if len(live) else ():
            sup2[rows] = self.support_actions(next_obs[rows], gen)
        return sup, sup2

    def batch_support(self, batch: BatchLike, n: int) -> tuple[Tensor, Tensor]:
        """The support actions of the first ``n`` rows' states and next states."""
        s, s2 = batch.observations[:n], batch.next_observations[:n]
        if self.cfg.support_mode == "fresh":
            sup, sup2 = self.support_actions(torch.cat([s, s2])).chunk(2)
            return sup, sup2
        idx = getattr(batch, "indices", None)
        if idx is None:
            raise GenpolicyError(
                "QGPO with algo.support_mode=dataset needs batches with their dataset rows "
                "(OfflineDataset.sample gives them); or set algo.support_mode=fresh"
            )
        if self.bank is None:
            self.bank = self.draw_support_bank()
        idx = idx[:n]
        return self.bank[0][idx], self.bank[1][idx]

    def support_q(self, obs: Tensor, support: Tensor) -> Tensor:
        """min_k Qbar_k(s, a_i) over the support set, (B, M), without gradient."""
        with torch.no_grad():
            rep = obs.repeat_interleave(support.shape[1], dim=0)
            return self.critic.q_min(rep, support.flatten(0, 1), target=True).view(obs.shape[0], -1)

    def q_loss(self, s: Tensor, a: Tensor, r: Tensor, s2: Tensor, d: Tensor, sup2: Tensor):
        """In-support softmax Q-learning: the backup is the softmax(alpha_Q Qbar) average."""
        q2 = self.support_q(s2, sup2)
        v2 = (torch.softmax(self.cfg.q_alpha * q2, dim=1) * q2).sum(dim=1)
        y = r + self.critic.cfg.gamma * (1.0 - d) * v2
        return (self.critic.q_values(s, a) - y).square().mean(dim=1).sum()

    def energy_loss(self, obs: Tensor, support: Tensor) -> Tensor:
        """CEP: cross-entropy of softmax(f_phi(a_t, t, s)) against softmax(beta Qbar(s, a))."""
        b, m, _ = support.shape
        label = torch.softmax(self.cfg.beta * self.support_q(obs, support), dim=1)
        t = self.behaviour.draw_times(b, obs.device).repeat_interleave(m)
        xt = self.behaviour.path.sample_xt(support.flatten(0, 1), t).xt
        rep = obs.repeat_interleave(m, dim=0)
        f = self.energy(xt, self.behaviour.net_time(t), rep).view(b, m)
        return -(label * torch.log_softmax(f, dim=1)).sum(dim=1).mean()

    def guidance(self, states: Tensor) -> Guidance:
        """x, t -> s_g grad_x f_phi(x, t, s), usable under ``torch.inference_mode``."""
        with torch.inference_mode(False), torch.no_grad():
            s_feat = self.energy.state_features(states.clone())
        scale, net = self.cfg.guidance_scale, self.energy

        def g(x: Tensor, t: float) -> Tensor:
            with torch.inference_mode(False), torch.enable_grad():
                xg = x.clone().requires_grad_(True)
                tt = self.behaviour.net_time(torch.tensor(t, device=x.device, dtype=x.dtype))
                f = net.head(xg, s_feat + net.time_features(tt)).sum()
                (grad,) = torch.autograd.grad(f, xg)
            return scale * grad

        return g

    # -- one training step ----------------------------------------------------------------
    def phase(self) -> str:
        return self.pretrain_phase()

    def phase_lr(self, phase: str) -> float:
        return self.pretrain_phase_lr(phase, self.cfg.behaviour_lr)

    def prepare(self, phase: str) -> None:
        """The support actions of every dataset row, drawn once before the first policy
        update (outside any compiled step)."""
        if phase == "policy" and self.cfg.support_mode == "dataset" and self.bank is None:
            self.bank = self.draw_support_bank()

    def step(self, batch: BatchLike, phase: str) -> dict[str, Tensor]:
        c, s, a = self.cfg, batch.observations, batch.actions
        if phase == "pretrain":
            return self.pretrain_step(s, a)
        n = c.critic_batch
        sup, sup2 = self.batch_support(batch, n)
        s, a, s2 = s[:n], a[:n], batch.next_observations[:n]
        q_loss = self.q_loss(s, a, batch.rewards[:n], s2, batch.terminals[:n], sup2)
        optimizer_step(self.critic.optimizer, q_loss)
        self.critic.polyak_update()
        e_loss = self.energy_loss(s, sup)
        optimizer_step(self.energy_opt, e_loss, lr=self.lr(), grad_clip=c.grad_clip)
        return {"critic/q_loss": q_loss.detach(), "energy/cep_loss": e_loss.detach()}

    def get_extra_state(self) -> Any:
        return {**super().get_extra_state(), "support_seed": self.support_seed}

    def set_extra_state(self, state: Any) -> None:
        super().set_extra_state(state)
        seed = state.get("support_seed")
        self.support_seed = None if seed is None else int(seed)
        self.bank = None  # drawn again from the loaded weights and seed

    # -- acting -----------------------------------------------------------------------------
    def act_normalized(self, obs: Tensor, act_cfg: ActConfig | None) -> Tensor:
        if self.pretraining or self.cfg.guidance_scale == 0:
            return self.sample_actions(self.behaviour, obs, act_cfg)
        return self.sample_actions(_Guided(self.behaviour, self.guidance), obs, act_cfg)

    def speed_phases(self) -> list[str]:
        """Behaviour pretraining (if any), then Q-learning and CEP."""
        return ["pretrain", "guidance"] if self.cfg.pretrain_steps > 0 else ["guidance"]

    def start_phase(self, phase: str) -> None:
        if phase == "guidance":
            self.num_updates = self.cfg.pretrain_steps
        else:
            super().start_phase(phase)
