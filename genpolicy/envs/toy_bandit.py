"""A contextual bandit with a known answer, for testing offline RL end to end.

State s ~ U[-1, 1]^2, action a in [-1, 1]^2, one step per episode (terminal = 1, so
Q(s, a) = r(s, a)). Three action modes sit on a circle of radius 0.6 that rotates with
the context: c_k(s) = 0.6 (cos theta_k, sin theta_k), theta_k = 2 pi k / 3 + 0.5 s_0.
The behaviour policy picks mode k with probability ``MIX`` = (0.5, 0.3, 0.2) and adds
N(0, 0.05^2) noise. The reward is a bump of width 0.15 around every mode centre, of
height 1 for the best mode and 0.3 for the others; which mode is best depends on the
context: mode 1 when s_1 >= 0, mode 2 otherwise (never the behaviour's favourite).

So behaviour cloning should reproduce MIX, and a good offline RL policy should put
almost all of its actions in the best mode.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

NAME = "toy-bandit"
MIX = (0.5, 0.3, 0.2)
RADIUS, ANGLE_GAIN, NOISE, WIDTH = 0.6, 0.5, 0.05, 0.15
BEST_HEIGHT, OTHER_HEIGHT = 1.0, 0.3
MODE_RADIUS = (
    0.35  # an action belongs to a mode if it is this close to the centre (modes are 1.04 apart)
)
OBS_DIM = ACT_DIM = 2


def centres(obs: Tensor) -> Tensor:
    """Mode centres (B, 3, 2) for states (B, 2)."""
    k = torch.arange(3, dtype=obs.dtype, device=obs.device)
    theta = 2 * math.pi * k / 3 + ANGLE_GAIN * obs[:, :1]
    return RADIUS * torch.stack([torch.cos(theta), torch.sin(theta)], dim=-1)


def best_mode(obs: Tensor) -> Tensor:
    """Index of the rewarding mode, (B,)."""
    return torch.where(obs[:, 1] >= 0, 1, 2)


def reward(obs: Tensor, act: Tensor) -> Tensor:
    """r(s, a) = max_k h_k(s) exp(-|a - c_k(s)|^2 / (2 w^2)), (B,)."""
    d2 = (act.unsqueeze(1) - centres(obs)).square().sum(-1)  # (B, 3)
    height = torch.full_like(d2, OTHER_HEIGHT)
    height.scatter_(1, best_mode(obs).unsqueeze(1), BEST_HEIGHT)
    return (height * torch.exp(-d2 / (2 * WIDTH**2))).max(dim=1).values


def mode_of(obs: Tensor, act: Tensor) -> Tensor:
    """Nearest mode of each action, or -1 if it is farther than MODE_RADIUS from all."""
    d = (act.unsqueeze(1) - centres(obs)).norm(dim=-1)
    dist, idx = d.min(dim=1)
    return torch.where(dist <= MODE_RADIUS, idx, -1)


def mode_fractions(obs: Tensor, act: Tensor) -> dict[str, float]:
    """Fractions of actions in behaviour modes 0..2, in the best mode, and in none."""
    m = mode_of(obs, act)
    out = {f"mode{k}": float((m == k).float().mean()) for k in range(3)}
    out["best"] = float((m == best_mode(obs)).float().mean())
    out["none"] = float((m == -1).float().mean())
    return out


def behaviour_arrays(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``n`` one-step transitions of the behaviour policy, as D4RL-style arrays."""
    g = torch.Generator().manual_seed(seed)
    obs = torch.rand(n, OBS_DIM, generator=g) * 2 - 1
    k = torch.multinomial(torch.tensor(MIX), n, replacement=True, generator=g)
    act = centres(obs)[torch.arange(n), k] + NOISE * torch.randn(n, ACT_DIM, generator=g)
    act = act.clamp(-1.0, 1.0)
    return {
        "observations": obs.numpy(),
        "actions": act.numpy(),
        "rewards": reward(obs, act).numpy(),
        "terminals": np.ones(n, dtype=bool),
        "next_observations": obs.numpy(),  # unused: every transition is terminal
    }


def make_dataset(n: int = 20_000, seed: int = 0, device: str = "cpu") -> Any:
    """The behaviour data as an ``OfflineDataset`` (observations not normalised)."""
    from genpolicy.data import OfflineDataset

    arr = behaviour_arrays(n, seed)
    return OfflineDataset.from_arrays(
        arr["observations"],
        arr["actions"],
        arr["rewards"],
        arr["terminals"],
        next_observations=arr["next_observations"],
        name=NAME,
        env_id=None,
        reward_convention="none",
        normalize_obs=False,
        device=device,
    )


class ToyBanditVectorEnv:
    """``num_envs`` copies of the bandit with the Gymnasium vector-env step signature."""

    def __init__(self, num_envs: int, seed: int | None = None) -> None:
        self.num_envs = num_envs
        self._g = torch.Generator().manual_seed(0 if seed is None else seed)
        self._obs = self._draw()

    def _draw(self) -> Tensor:
        return torch.rand(self.num_envs, OBS_DIM, generator=self._g) * 2 - 1

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        if seed is not None:
            self._g.manual_seed(seed)
        self._obs = self._draw()
        return self._obs.numpy().copy(), {}

    def step(self, actions: np.ndarray) -> tuple[Any, ...]:
        r = reward(self._obs, torch.as_tensor(actions, dtype=torch.float32)).numpy()
        self._obs = self._draw()
        done = np.ones(self.num_envs, dtype=bool)
        return self._obs.numpy().copy(), r.astype(np.float64), done, ~done, {}

    def close(self) -> None:
        pass


def normalize(returns: np.ndarray) -> np.ndarray:
    """Score = 100 * mean reward / the best mode's height (100: always the best mode's centre)."""
    return 100.0 * returns / BEST_HEIGHT


def _make_for_device(device: str) -> Any:
    return make_dataset(device=device)


def _register() -> None:
    from genpolicy.envs.builtin import BuiltinDataset, BuiltinEnv, register_dataset, register_env

    register_dataset(BuiltinDataset(NAME, _make_for_device, env_id=NAME))
    register_env(BuiltinEnv(NAME, ToyBanditVectorEnv, normalize))


_register()
