"""Observation normalisation and reward conventions, as a small state that travels into
checkpoints (``Normalizer.state()`` is JSON-able; ``Normalizer.from_state`` rebuilds it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genpolicy.errors import GenpolicyError, unknown_name

REWARD_CONVENTIONS = ("none", "locomotion", "antmaze")
STD_MIN = 1e-3


def reward_convention_params(convention: str, episode_returns: np.ndarray) -> tuple[float, float]:
    """``(scale, shift)`` so that the converted reward is ``r * scale + shift``.

    locomotion: scale = 1000 / (max episode return - min episode return); antmaze: r - 1.
    """
    if convention == "none":
        return 1.0, 0.0
    if convention == "antmaze":
        return 1.0, -1.0
    if convention == "locomotion":
        if len(episode_returns) < 2:
            return 1.0, 0.0
        spread = float(np.max(episode_returns) - np.min(episode_returns))
        return (1000.0 / spread if spread > 1e-6 else 1.0), 0.0
    raise unknown_name("reward convention", convention, REWARD_CONVENTIONS)


@dataclass
class Normalizer:
    """Observation mean/std (std clamped to >= 1e-3) and the reward convention."""

    obs_mean: Tensor
    obs_std: Tensor
    normalize_obs_flag: bool = True
    reward_scale: float = 1.0
    reward_shift: float = 0.0
    reward_convention: str = "none"

    @classmethod
    def create(
        cls,
        obs_dim: int,
        obs_mean: np.ndarray | None = None,
        obs_std: np.ndarray | None = None,
        *,
        normalize_obs: bool = True,
        reward_scale: float = 1.0,
        reward_shift: float = 0.0,
        reward_convention: str = "none",
    ) -> Normalizer:
        if normalize_obs and obs_mean is not None and obs_std is not None:
            mean = torch.as_tensor(obs_mean, dtype=torch.float32)
            std = torch.as_tensor(obs_std, dtype=torch.float32).clamp_min(STD_MIN)
        else:  # identity: zero mean, unit std
            normalize_obs = False
            mean, std = torch.zeros(obs_dim), torch.ones(obs_dim)
        return cls(
            mean, std, normalize_obs, float(reward_scale), float(reward_shift), reward_convention
        )

    def to(self, device: str | torch.device) -> Normalizer:
        return Normalizer(
            self.obs_mean.to(device),
            self.obs_std.to(device),
            self.normalize_obs_flag,
            self.reward_scale,
            self.reward_shift,
            self.reward_convention,
        )

    def normalize_obs(self, obs: Tensor) -> Tensor:
        if not self.normalize_obs_flag:
            return obs
        return (obs - self.obs_mean.to(obs.device)) / self.obs_std.to(obs.device)

    def normalize_obs_np(self, obs: np.ndarray) -> np.ndarray:
        if not self.normalize_obs_flag:
            return obs.astype(np.float32)
        mean = self.obs_mean.cpu().numpy()
        std = self.obs_std.cpu().numpy()
        return ((obs - mean) / std).astype(np.float32)

    def convert_rewards(self, rewards: Tensor) -> Tensor:
        return rewards * self.reward_scale + self.reward_shift

    def state(self) -> dict[str, Any]:
        return {
            "obs_mean": [float(x) for x in self.obs_mean.cpu().tolist()],
            "obs_std": [float(x) for x in self.obs_std.cpu().tolist()],
            "normalize_obs": bool(self.normalize_obs_flag),
            "reward_scale": float(self.reward_scale),
            "reward_shift": float(self.reward_shift),
            "reward_convention": self.reward_convention,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Normalizer:
        try:
            return cls(
                torch.tensor(state["obs_mean"], dtype=torch.float32),
                torch.tensor(state["obs_std"], dtype=torch.float32),
                bool(state["normalize_obs"]),
                float(state["reward_scale"]),
                float(state["reward_shift"]),
                str(state.get("reward_convention", "none")),
            )
        except KeyError as exc:
            raise GenpolicyError(
                f"normalizer state lacks key {exc.args[0]!r}; save it with "
                "OfflineDataset.normalizer_state()"
            ) from None
