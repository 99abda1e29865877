"""Networks for generative policies: state- and time-conditioned MLPs.

The first layer of an MLP over the concatenation [x, phi(t), s] is a sum of three linear
maps, W_x x + W_t phi(t) + (W_s s + b). ``ConditionalMLP`` keeps those three parts apart so
that a sampler can compute the state term once per action and the time terms once per
grid point, and pay only for W_x x and the rest of the trunk at each ODE step. At batch 1
on a CPU that per-operation overhead, not arithmetic, is what an action costs.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from genpolicy.errors import GenpolicyError, unknown_name

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "mish": nn.Mish,
    "silu": nn.SiLU,
    "relu": nn.ReLU,
    "gelu": nn.GELU,
}


def make_activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise unknown_name("activation", name, ACTIVATIONS)
    return ACTIVATIONS[name]()


class FourierTime(nn.Module):
    """Sinusoidal features of a scalar time with fixed, geometrically spaced frequencies."""

    freqs: Tensor

    def __init__(self, dim: int = 32, max_freq: float = 100.0) -> None:
        super().__init__()
        if dim < 2 or dim % 2:
            raise GenpolicyError(f"time embedding size must be an even number >= 2, got {dim}")
        self.dim = dim
        self.register_buffer("freqs", torch.exp(torch.linspace(0.0, math.log(max_freq), dim // 2)))

    def forward(self, t: Tensor) -> Tensor:
        """t: (...,) -> (..., dim)."""
        arg = t.unsqueeze(-1) * self.freqs
        return torch.cat([torch.sin(arg), torch.cos(arg)], dim=-1)


class ResidualBlock(nn.Module):
    def __init__(self, width: int, activation: str) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)
        self.act = make_activation(activation)

    def forward(self, h: Tensor) -> Tensor:
        return h + self.fc2(self.act(self.fc1(self.norm(h))))


class ConditionalMLP(nn.Module):
    """f(x, t_1..t_n, s) -> R^out with a split first layer (see module docstring).

    ``depth`` counts hidden layers of width ``hidden`` (3 x 256 is the usual policy net);
    with ``residual=True`` the layers after the first are pre-norm residual blocks.
    """

    def __init__(
        self,
        x_dim: int,
        state_dim: int,
        out_dim: int | None = None,
        *,
        hidden: int = 256,
        depth: int = 3,
        time_dim: int = 32,
        n_times: int = 1,
        residual: bool = False,
        activation: str = "mish",
    ) -> None:
        super().__init__()
        if min(x_dim, hidden, depth, n_times) < 1 or state_dim < 0:
            raise GenpolicyError(
                f"network sizes must be positive: x_dim={x_dim}, state_dim={state_dim}, "
                f"hidden={hidden}, depth={depth}, n_times={n_times}"
            )
        self.x_dim, self.state_dim, self.n_times = x_dim, state_dim, n_times
        self.time = FourierTime(time_dim)
        self.time_mlp = nn.Sequential(
            nn.Linear(time_dim * n_times, 2 * time_dim),
            make_activation(activation),
            nn.Linear(2 * time_dim, hidden),
        )
        self.in_x = nn.Linear(x_dim, hidden, bias=False)
        # the first layer's bias lives in the state term (a free parameter without states)
        self.in_s = nn.Linear(state_dim, hidden) if state_dim > 0 else None
        self.in_bias = nn.Parameter(torch.zeros(hidden)) if state_dim == 0 else None
        layers: list[nn.Module] = [make_activation(activation)]
        for _ in range(depth - 1):
            if residual:
                layers.append(ResidualBlock(hidden, activation))
            else:
                layers += [nn.Linear(hidden, hidden), make_activation(activation)]
        if residual:
            layers += [nn.LayerNorm(hidden), make_activation(activation)]
        layers.append(nn.Linear(hidden, out_dim or x_dim))
        self.trunk = nn.Sequential(*layers)

    # -- split first layer ---------------------------------------------------------------
    def time_features(self, t: Tensor) -> Tensor:
        """t: (B,) or (B, n_times) or (n_times,) -> first-layer contribution (..., hidden)."""
        if self.n_times == 1 and (t.dim() == 0 or t.shape[-1] != 1):
            t = t.unsqueeze(-1)
        emb = self.time(t).flatten(-2)
        return self.time_mlp(emb)

    def state_features(self, states: Tensor) -> Tensor:
        """states (B, state_dim) -> first-layer contribution (B, hidden), bias included."""
        if self.in_s is None:
            assert self.in_bias is not None
            return self.in_bias.expand(states.shape[0], -1)
        return self.in_s(states)

    def head(self, x: Tensor, cond: Tensor) -> Tensor:
        """The rest of the network given the precomputed condition (time + state terms)."""
        if cond.dim() == 2 and x.dim() == 2:
            return self.trunk(torch.addmm(cond, x, self.in_x.weight.t()))
        return self.trunk(self.in_x(x) + cond)

    def forward(self, x: Tensor, t: Tensor, states: Tensor) -> Tensor:
        return self.head(x, self.time_features(t) + self.state_features(states))
