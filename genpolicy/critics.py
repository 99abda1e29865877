"""IQL critic: twin Q, a state value V fitted by expectile regression, Polyak target.

Implicit Q-learning (Kostrikov et al., 2021) never queries Q at actions outside the data:

    L_V   = E_(s,a)~D [ L2^tau( min_i Qbar_i(s, a) - V(s) ) ],   L2^tau(u) = |tau - 1(u<0)| u^2
    L_Q   = E_(s,a,r,s')~D [ sum_i ( r + gamma (1 - d) V(s') - Q_i(s, a) )^2 ]
    Qbar <- (1 - rho) Qbar + rho Q                                       (Polyak, rho = 0.005)

The twin Q networks are one module with stacked weights (``EnsembleMLP``): both members
run in a single batched matmul per layer instead of a Python loop over members.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass
class CriticConfig:
    """Hyperparameters of the IQL critic (the published locomotion settings by default)."""

    hidden: int = 256
    depth: int = 2
    expectile: float = 0.7
    gamma: float = 0.99
    polyak: float = 0.005
    lr: float = 3e-4
    n_q: int = 2


def expectile_loss(diff: Tensor, expectile: float) -> Tensor:
    """Asymmetric squared loss |tau - 1(u < 0)| u^2, elementwise (u = target - prediction)."""
    weight = torch.where(diff < 0, 1.0 - expectile, expectile)
    return weight * diff.square()


class EnsembleLinear(nn.Module):
    """``n`` independent linear layers evaluated with one batched matmul."""

    def __init__(self, n: int, d_in: int, d_out: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(d_in)  # nn.Linear's default initialisation, per member
        self.weight = nn.Parameter(torch.empty(n, d_in, d_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n, 1, d_out).uniform_(-bound, bound))

    def forward(self, x: Tensor) -> Tensor:  # x: (n, B, d_in) -> (n, B, d_out)
        return torch.baddbmm(self.bias, x, self.weight)


class EnsembleMLP(nn.Module):
    """``n`` MLPs with identical shapes and separate weights; input (B, d) or (n, B, d)."""

    def __init__(self, n: int, d_in: int, d_out: int, hidden: int = 256, depth: int = 2) -> None:
        super().__init__()
        self.n = n
        dims = [d_in] + [hidden] * depth + [d_out]
        self.layers = nn.ModuleList(
            EnsembleLinear(n, a, b) for a, b in zip(dims[:-1], dims[1:], strict=True)
        )

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 2:
            x = x.unsqueeze(0).expand(self.n, -1, -1)
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = torch.relu(x)
        return x


def mlp(d_in: int, d_out: int, hidden: int = 256, depth: int = 2) -> nn.Sequential:
    """A plain ReLU MLP with ``depth`` hidden layers."""
    dims = [d_in] + [hidden] * depth
    layers: list[nn.Module] = []
    for a, b in zip(dims[:-1], dims[1:], strict=True):
        layers += [nn.Linear(a, b), nn.ReLU()]
    layers.append(nn.Linear(dims[-1], d_out))
    return nn.Sequential(*layers)


class IQLCritic(nn.Module):
    """Twin Q (one batched module), V, and a Polyak-averaged target Q, with their optimiser."""

    def __init__(self, obs_dim: int, act_dim: int, cfg: CriticConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or CriticConfig()
        self.q = EnsembleMLP(cfg.n_q, obs_dim + act_dim, 1, cfg.hidden, cfg.depth)
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)
        self.v = mlp(obs_dim, 1, cfg.hidden, cfg.depth)
        params = list(self.q.parameters()) + list(self.v.parameters())
        self.optimizer = torch.optim.Adam(params, lr=cfg.lr, foreach=True)

    def q_values(self, obs: Tensor, act: Tensor, target: bool = False) -> Tensor:
        """All members' Q(s, a), shape (n_q, B)."""
        net = self.q_target if target else self.q
        return net(torch.cat([obs, act], dim=-1)).squeeze(-1)

    def q_min(self, obs: Tensor, act: Tensor, target: bool = True) -> Tensor:
        """min_i Q_i(s, a), shape (B,); the target network by default (as IQL's actor uses)."""
        return self.q_values(obs, act, target).min(dim=0).values

    def value(self, obs: Tensor) -> Tensor:
        return self.v(obs).squeeze(-1)

    def advantage(self, obs: Tensor, act: Tensor) -> Tensor:
        """A(s, a) = min_i Qbar_i(s, a) - V(s), without gradient."""
        with torch.no_grad():
            return self.q_min(obs, act) - self.value(obs)

    def losses(
        self, obs: Tensor, act: Tensor, rew: Tensor, next_obs: Tensor, term: Tensor
    ) -> tuple[Tensor, Tensor]:
        """(L_V, L_Q) as in the module docstring."""
        with torch.no_grad():
            q_t = self.q_min(obs, act, target=True)
            td_target = rew + self.cfg.gamma * (1.0 - term) * self.value(next_obs)
        v_loss = expectile_loss(q_t - self.value(obs), self.cfg.expectile).mean()
        q_loss = (self.q_values(obs, act) - td_target).square().mean(dim=1).sum()
        return v_loss, q_loss

    def update(
        self, obs: Tensor, act: Tensor, rew: Tensor, next_obs: Tensor, term: Tensor
    ) -> dict[str, Tensor]:
        """One gradient step on L_V + L_Q, then the Polyak update of the target."""
        v_loss, q_loss = self.losses(obs, act, rew, next_obs, term)
        self.optimizer.zero_grad(set_to_none=True)
        (v_loss + q_loss).backward()
        self.optimizer.step()
        self.polyak_update()
        return {"critic/v_loss": v_loss.detach(), "critic/q_loss": q_loss.detach()}

    @torch.no_grad()
    def polyak_update(self) -> None:
        src: list[Tensor] = list(self.q.parameters())
        dst: list[Tensor] = list(self.q_target.parameters())
        torch._foreach_lerp_(dst, src, self.cfg.polyak)
