"""Critics: one interface (``Critic``), the IQL critic and a clipped double-Q TD critic.

Both keep twin Q networks as one module with stacked weights (``EnsembleMLP``) and a
Polyak-averaged target copy Qbar.

IQL (Kostrikov et al., 2021) never queries Q at actions outside the data:

    L_V   = E_(s,a)~D [ L2^tau( min_i Qbar_i(s, a) - V(s) ) ],   L2^tau(u) = |tau - 1(u<0)| u^2
    L_Q   = E_(s,a,r,s')~D [ sum_i ( r + gamma (1 - d) V(s') - Q_i(s, a) )^2 ]
    A(s, a) = min_i Qbar_i(s, a) - V(s)

TD (clipped double Q with next actions from a policy, as in TD3 / Diffusion-QL / FQL / GTP):

    L_Q   = E [ sum_i ( r + gamma (1 - d) min_i Qbar_i(s', a') - Q_i(s, a) )^2 ],  a' ~ pi(s')
    A(s, a) = min_i Q_i(s, a) - min_i Q_i(s, a_pi),  a_pi ~ pi(s)  (one-sample Q - V^pi)

with ``backup_samples`` = k > 1 the max-Q backup of Diffusion-QL's AntMaze runs instead:
min_i max_j Qbar_i(s', a'_j) over k draws a'_j ~ pi(s'); ``q_agg="mean"`` takes mean_i
instead of min_i (FQL's default).

and after every step of either, Qbar <- (1 - rho) Qbar + rho Q (``polyak_update``).
``grad_clip`` > 0 clips the critic's gradient norm before each step (Diffusion-QL).

``q_min(obs, act, target=False)``: min_i Q_i(s, a). The default is the ONLINE network; the
Polyak target is asked for explicitly where a loss needs a slowly moving value (TD
targets, IQL's advantage, GMPG's policy gradient). Ranking candidate actions at acting
time uses the online network (``Algorithm.q_for_ranking``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from genpolicy.errors import GenpolicyError, unknown_name
from genpolicy.generative.nets import EnsembleLinear, EnsembleMLP, mlp
from genpolicy.rl.optim import LONE, Stepper, optimizer_step, polyak_update

Actor = Callable[[Tensor], Tensor]  # states (B, obs_dim) -> actions (B, act_dim), no grad
Q_AGGS = ("min", "mean")  # how a TD target aggregates the members Qbar_i(s', a')


@dataclass
class CriticConfig:
    """Hyperparameters of the critics (the published locomotion settings by default);
    ``expectile`` is IQL's only."""

    hidden: int = 256
    depth: int = 2
    expectile: float = 0.7
    gamma: float = 0.99
    polyak: float = 0.005
    lr: float = 3e-4
    n_q: int = 2
    grad_clip: float = 0.0  # max gradient norm of the critic's step; 0: no clipping


@runtime_checkable
class Critic(Protocol):
    """What an algorithm may ask of its critic (an ``nn.Module`` with its own optimiser)."""

    optimizer: torch.optim.Optimizer
    uses_actor: bool  # whether update / advantage need the policy's actions

    def q_min(self, obs: Tensor, act: Tensor, target: bool = False) -> Tensor:
        """min_i Q_i(s, a), shape (B,); the online network unless ``target``."""
        ...

    def advantage(self, obs: Tensor, act: Tensor, act_pi: Tensor | None = None) -> Tensor:
        """A(s, a), shape (B,), without gradient (``act_pi``: a ~ pi(s), where needed)."""
        ...

    def update(
        self,
        obs: Tensor,
        act: Tensor,
        rew: Tensor,
        next_obs: Tensor,
        done: Tensor,
        next_act: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """One gradient step and the Polyak update; returns ``critic/*`` scalars (detached)."""
        ...


def expectile_loss(diff: Tensor, expectile: float) -> Tensor:
    """Asymmetric squared loss |tau - 1(u < 0)| u^2, elementwise (u = target - prediction)."""
    weight = torch.where(diff < 0, 1.0 - expectile, expectile)
    return weight * diff.square()


class TwinQ(nn.Module):
    """Q ensemble (``cfg.n_q`` members, one batched module) and its Polyak target copy."""

    def __init__(self, obs_dim: int, act_dim: int, cfg: CriticConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.q = EnsembleMLP(cfg.n_q, obs_dim + act_dim, 1, cfg.hidden, cfg.depth)
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)

    def q_values(self, obs: Tensor, act: Tensor, target: bool = False) -> Tensor:
        """All members' Q(s, a), shape (n_q, B)."""
        net = self.q_target if target else self.q
        return net(torch.cat([obs, act], dim=-1)).squeeze(-1)

    def q_min(self, obs: Tensor, act: Tensor, target: bool = False) -> Tensor:
        """min_i Q_i(s, a), shape (B,); the online network unless ``target``."""
        return self.q_values(obs, act, target).min(dim=0).values

    def polyak_update(self) -> None:
        """Qbar <- (1 - rho) Qbar + rho Q."""
        polyak_update(self.q_target, self.q, self.cfg.polyak)


class IQLCritic(TwinQ):
    """Twin Q, V (expectile regression) and the target Qbar, with their one optimiser."""

    uses_actor: ClassVar[bool] = False  # in-sample: never asks the policy for actions
    stepper: Stepper = LONE  # how the optimiser step runs (a population sets its own)

    def __init__(self, obs_dim: int, act_dim: int, cfg: CriticConfig | None = None) -> None:
        cfg = cfg or CriticConfig()
        super().__init__(obs_dim, act_dim, cfg)
        self.v = mlp(obs_dim, 1, cfg.hidden, cfg.depth)
        params = list(self.q.parameters()) + list(self.v.parameters())
        self.optimizer = torch.optim.Adam(params, lr=cfg.lr, foreach=True)

    def value(self, obs: Tensor) -> Tensor:
        return self.v(obs).squeeze(-1)

    def advantage(self, obs: Tensor, act: Tensor, act_pi: Tensor | None = None) -> Tensor:
        """A(s, a) = min_i Qbar_i(s, a) - V(s), without gradient (``act_pi`` is unused)."""
        with torch.no_grad():
            return self.q_min(obs, act, target=True) - self.value(obs)

    def losses(
        self, obs: Tensor, act: Tensor, rew: Tensor, next_obs: Tensor, done: Tensor
    ) -> tuple[Tensor, Tensor]:
        """(L_V, L_Q) as in the module docstring."""
        with torch.no_grad():
            q_t = self.q_min(obs, act, target=True)
            td_target = rew + self.cfg.gamma * (1.0 - done) * self.value(next_obs)
        v_loss = expectile_loss(q_t - self.value(obs), self.cfg.expectile).mean()
        q_loss = (self.q_values(obs, act) - td_target).square().mean(dim=1).sum()
        return v_loss, q_loss

    def update(
        self,
        obs: Tensor,
        act: Tensor,
        rew: Tensor,
        next_obs: Tensor,
        done: Tensor,
        next_act: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """One gradient step on L_V + L_Q, then the Polyak update (``next_act`` unused)."""
        _, info = self.stepper.step(
            self.optimizer, self.loss, (obs, act, rew, next_obs, done), grad_clip=self.cfg.grad_clip
        )
        self.polyak_update()
        return info

    def loss(
        self, obs: Tensor, act: Tensor, rew: Tensor, next_obs: Tensor, done: Tensor
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """L_V + L_Q and both terms (the step's loss function)."""
        v_loss, q_loss = self.losses(obs, act, rew, next_obs, done)
        return v_loss + q_loss, {"critic/v_loss": v_loss, "critic/q_loss": q_loss}


class TDCritic(TwinQ):
    """Twin Q trained on one-step TD targets with the next action from a policy.

    ``actor(states) -> actions`` (optional, no gradient) supplies a' in ``update`` and
    a_pi in ``advantage`` when the caller does not pass them (GTP passes both, drawn in
    one sampler call; Diffusion-QL / FQL can hand over their policy's sampler).
    ``backup_samples`` = k: the target takes the max over k next actions per s' (a given
    ``next_act`` then holds k rows per state, state-major as ``repeat_interleave``).
    """

    uses_actor: ClassVar[bool] = True  # a' ~ pi(s') and a_pi ~ pi(s)

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        cfg: CriticConfig | None = None,
        actor: Actor | None = None,
        backup_samples: int = 1,
        q_agg: str = "min",
    ) -> None:
        cfg = cfg or CriticConfig()
        if backup_samples < 1:
            raise GenpolicyError(f"backup_samples must be >= 1, got {backup_samples}")
        if q_agg not in Q_AGGS:
            raise unknown_name("TD target aggregation q_agg", q_agg, Q_AGGS)
        super().__init__(obs_dim, act_dim, cfg)
        self.optimizer = torch.optim.Adam(self.q.parameters(), lr=cfg.lr, foreach=True)
        self.backup_samples = backup_samples
        self.q_agg = q_agg  # min_i (clipped double Q) or mean_i (FQL's default) in the target
        object.__setattr__(self, "actor", actor)  # a callable, never a registered submodule

    def _actions(self, obs: Tensor, given: Tensor | None, what: str) -> Tensor:
        if given is not None:
            return given
        actor: Actor | None = self.__dict__.get("actor")
        if actor is None:
            raise GenpolicyError(
                f"the TD critic needs {what}: pass it, or build TDCritic(..., actor=policy)"
            )
        with torch.no_grad():
            return actor(obs)

    def advantage(self, obs: Tensor, act: Tensor, act_pi: Tensor | None = None) -> Tensor:
        """A(s, a) = min_i Q_i(s, a) - min_i Q_i(s, a_pi), without gradient."""
        a_pi = self._actions(obs, act_pi, "a_pi ~ pi(s) for the advantage")
        with torch.no_grad():
            return self.q_min(obs, act) - self.q_min(obs, a_pi)

    def loss(
        self,
        obs: Tensor,
        act: Tensor,
        rew: Tensor,
        next_obs: Tensor,
        done: Tensor,
        next_act: Tensor,
    ) -> Tensor:
        """L_Q with the clipped double-Q target r + gamma (1 - d) min_i max_j Qbar_i(s', a'_j)
        (j over the ``next_act`` rows of each state: one, or ``backup_samples``)."""
        with torch.no_grad():
            k = next_act.shape[0] // next_obs.shape[0]
            q = self.q_values(next_obs.repeat_interleave(k, 0), next_act, target=True)
            q_k = q.view(q.shape[0], -1, k).max(dim=-1).values
            q_next = q_k.min(dim=0).values if self.q_agg == "min" else q_k.mean(dim=0)
            y = rew + self.cfg.gamma * (1.0 - done) * q_next
        return (self.q_values(obs, act) - y).square().mean(dim=1).sum()

    def update(
        self,
        obs: Tensor,
        act: Tensor,
        rew: Tensor,
        next_obs: Tensor,
        done: Tensor,
        next_act: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """One gradient step on L_Q, then the Polyak update."""
        k = self.backup_samples  # the actor draws k next actions per s' (max-Q backup)
        nxt = next_obs if k == 1 else next_obs.repeat_interleave(k, 0)
        a2 = self._actions(nxt, next_act, "the next action a' ~ pi(s')")
        loss = self.loss(obs, act, rew, next_obs, done, a2)
        optimizer_step(self.optimizer, loss, grad_clip=self.cfg.grad_clip)
        self.polyak_update()
        return {"critic/q_loss": loss.detach()}


CRITICS: dict[str, type[IQLCritic] | type[TDCritic]] = {"iql": IQLCritic, "td": TDCritic}


def make_critic(
    name: str,
    obs_dim: int,
    act_dim: int,
    cfg: CriticConfig,
    actor: Actor | None = None,
    backup_samples: int = 1,
    q_agg: str = "min",
) -> IQLCritic | TDCritic:
    """The critic that ``name`` names ("iql" or "td"; ``actor`` and ``backup_samples`` are
    the TD critic's policy and max-Q backup)."""
    if name == "td":
        return TDCritic(obs_dim, act_dim, cfg, actor, backup_samples, q_agg)
    if name not in CRITICS:
        raise unknown_name("critic", name, CRITICS)
    return IQLCritic(obs_dim, act_dim, cfg)


__all__ = [
    "CRITICS",
    "Actor",
    "Critic",
    "CriticConfig",
    "EnsembleLinear",
    "EnsembleMLP",
    "IQLCritic",
    "Q_AGGS",
    "TDCritic",
    "TwinQ",
    "expectile_loss",
    "make_critic",
    "mlp",
]
