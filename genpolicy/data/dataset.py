"""``OfflineDataset``: transitions as tensors on the training device, and ``Batch``.

Terminals (the task truly ended: no bootstrapping) and timeouts (the episode was cut by a
time limit: bootstrap as usual) are kept apart. Observation normalisation and the reward
convention are applied once, when the dataset is built, so ``sample`` only indexes tensors;
their parameters travel into checkpoints through :meth:`OfflineDataset.normalizer_state`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genpolicy.data.normalizer import REWARD_CONVENTIONS, Normalizer, reward_convention_params
from genpolicy.data.validate import validate_arrays
from genpolicy.errors import GenpolicyError, unknown_name

ArrayLike = np.ndarray | Tensor


@dataclass
class Batch:
    """A random batch of transitions; all float32 tensors on the dataset's device."""

    observations: Tensor  # (B, obs_dim), normalised if the dataset normalises observations
    actions: Tensor  # (B, act_dim)
    rewards: Tensor  # (B,) after the reward convention
    next_observations: Tensor  # (B, obs_dim), normalised likewise
    terminals: Tensor  # (B,) 1.0 where the episode truly terminated (not at timeouts)
    indices: Tensor | None = None  # (B,) int64 rows of the dataset the batch came from


def _np(x: ArrayLike | None) -> np.ndarray | None:
    if x is None:
        return None
    if isinstance(x, Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def episode_ends_of(terminals: np.ndarray, timeouts: np.ndarray) -> np.ndarray:
    """Indices of the last transition of each episode (terminal | timeout | final row)."""
    ends = np.flatnonzero(terminals.astype(bool) | timeouts.astype(bool))
    n = len(terminals)
    if n and (len(ends) == 0 or ends[-1] != n - 1):
        ends = np.append(ends, n - 1)
    return ends.astype(np.int64)


def episode_returns_of(rewards: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Undiscounted return of each episode delimited by ``ends``."""
    if len(ends) == 0:
        return np.zeros(0, dtype=np.float64)
    csum = np.concatenate([[0.0], np.cumsum(rewards.astype(np.float64))])
    starts = np.concatenate([[0], ends[:-1] + 1])
    return np.asarray(csum[ends + 1] - csum[starts], dtype=np.float64)


def derive_next_observations(
    observations: np.ndarray,
    terminals: np.ndarray,
    timeouts: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Next observations for files that lack them (D4RL v0 layout).

    Within an episode the next observation is the following row. A terminal transition needs
    none (its target does not bootstrap), so it keeps its own observation as a placeholder.
    The last transition of an episode cut by a timeout (or by the end of the file) has no
    stored successor: it is dropped, and the transition before it becomes the episode's end
    (marked as a timeout). Returns ``(next_observations, keep_mask)``.
    """
    n = len(observations)
    nxt = np.empty_like(observations)
    nxt[:-1] = observations[1:]
    nxt[-1:] = observations[-1:]
    term = terminals.astype(bool)
    tout = timeouts.astype(bool)
    nxt[term] = observations[term]
    keep = np.ones(n, dtype=bool)
    cut = tout & ~term
    if n and not term[-1]:
        cut[-1] = True
    keep[cut] = False
    return nxt, keep


class OfflineDataset:
    """Transitions of an offline dataset as float32 tensors on one device."""

    def __init__(
        self,
        *,
        observations: Tensor,
        actions: Tensor,
        rewards: Tensor,
        next_observations: Tensor,
        terminals: Tensor,
        timeouts: Tensor,
        normalizer: Normalizer,
        name: str = "",
        env_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self.observations = observations
        self.actions = actions
        self.rewards = rewards
        self.next_observations = next_observations
        self.terminals = terminals
        self.timeouts = timeouts
        self.normalizer = normalizer.to(observations.device)
        self.name = name
        self.env_id = env_id
        self.metadata: dict[str, Any] = dict(metadata or {})
        ends = episode_ends_of(terminals.cpu().numpy(), timeouts.cpu().numpy())
        self.episode_ends = torch.as_tensor(ends, device=observations.device)
        # what sample() indexes: normalised observations and converted rewards, computed once
        self._obs_n = self.normalizer.normalize_obs(observations)
        self._next_obs_n = self.normalizer.normalize_obs(next_observations)
        self._rewards_c = self.normalizer.convert_rewards(rewards)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_arrays(
        cls,
        observations: ArrayLike,
        actions: ArrayLike,
        rewards: ArrayLike,
        terminals: ArrayLike,
        timeouts: ArrayLike | None = None,
        next_observations: ArrayLike | None = None,
        *,
        name: str = "",
        env_id: str | None = None,
        reward_convention: str = "none",
        normalize_obs: bool = True,
        device: str | torch.device = "cpu",
        source: str | None = None,
        max_episode_steps: int | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> OfflineDataset:
        """Build a dataset from arrays (numpy or torch), validating them first.

        ``source`` names the file in error messages (default: ``name`` or ``"arrays"``).
        Without ``timeouts``, episodes that reach ``max_episode_steps`` (when given) are
        marked as timeouts; without ``next_observations`` they are derived within episodes
        (see :func:`derive_next_observations`).
        """
        if reward_convention not in REWARD_CONVENTIONS:
            raise unknown_name("reward convention", reward_convention, REWARD_CONVENTIONS)
        src = source or name or "arrays"
        arrays: dict[str, np.ndarray] = {}
        for key, val in (
            ("observations", observations),
            ("actions", actions),
            ("rewards", rewards),
            ("terminals", terminals),
            ("timeouts", timeouts),
            ("next_observations", next_observations),
        ):
            arr = _np(val)
            if arr is not None:
                arrays[key] = arr
        validate_arrays(arrays, src)
        obs = arrays["observations"].astype(np.float32).reshape(len(arrays["observations"]), -1)
        act = arrays["actions"].astype(np.float32).reshape(len(arrays["actions"]), -1)
        rew = arrays["rewards"].astype(np.float32).reshape(-1)
        term = arrays["terminals"].reshape(-1).astype(bool)
        if "timeouts" in arrays:
            tout = arrays["timeouts"].reshape(-1).astype(bool)
        else:
            tout = _infer_timeouts(term, max_episode_steps)
        if "next_observations" in arrays:
            nxt = arrays["next_observations"].astype(np.float32).reshape(obs.shape)
        else:
            nxt, keep = derive_next_observations(obs, term, tout)
            if not keep.all():
                # the transition before a dropped one ends its episode (by timeout)
                prev = np.flatnonzero(~keep) - 1
                prev = prev[(prev >= 0) & keep[np.clip(prev, 0, None)]]
                tout = tout.copy()
                tout[prev] = True
                obs, act, rew, term, tout, nxt = (a[keep] for a in (obs, act, rew, term, tout, nxt))
            if len(obs) == 0:
                raise GenpolicyError(
                    f"{src}: no transition has a next observation; store "
                    "'next_observations' or episodes longer than one step"
                )
        tout = tout & ~term
        ends = episode_ends_of(term, tout)
        params = reward_convention_params(reward_convention, episode_returns_of(rew, ends))
        mean, std = _obs_stats(obs) if normalize_obs else (None, None)
        normalizer = Normalizer.create(
            obs_dim=obs.shape[1],
            obs_mean=mean,
            obs_std=std,
            normalize_obs=normalize_obs,
            reward_scale=params[0],
            reward_shift=params[1],
            reward_convention=reward_convention,
        )
        dev = torch.device(device)

        def t(a: np.ndarray) -> Tensor:
            return torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32, device=dev)

        return cls(
            observations=t(obs),
            actions=t(act),
            rewards=t(rew),
            next_observations=t(nxt),
            terminals=t(term),
            timeouts=t(tout),
            normalizer=normalizer,
            name=name,
            env_id=env_id,
            metadata=metadata,
        )

    # ------------------------------------------------------------------ basic properties
    def __len__(self) -> int:
        return int(self.observations.shape[0])

    def __repr__(self) -> str:
        return (
            f"OfflineDataset(name={self.name!r}, env_id={self.env_id!r}, transitions={len(self)}, "
            f"episodes={self.num_episodes}, obs_dim={self.obs_dim}, act_dim={self.act_dim}, "
            f"device={self.device})"
        )

    @property
    def obs_dim(self) -> int:
        return int(self.observations.shape[1])

    @property
    def act_dim(self) -> int:
        return int(self.actions.shape[1])

    @property
    def device(self) -> torch.device:
        return self.observations.device

    @property
    def num_episodes(self) -> int:
        return int(self.episode_ends.numel())

    @property
    def obs_mean(self) -> Tensor:
        return self.normalizer.obs_mean

    @property
    def obs_std(self) -> Tensor:
        return self.normalizer.obs_std

    @property
    def reward_scale(self) -> float:
        return self.normalizer.reward_scale

    @property
    def reward_shift(self) -> float:
        return self.normalizer.reward_shift

    def normalize_obs(self, obs: Tensor) -> Tensor:
        """Apply the dataset's observation normalisation (identity if it does not normalise)."""
        return self.normalizer.normalize_obs(obs)

    def normalizer_state(self) -> dict[str, Any]:
        """JSON-able normalisation state that travels into checkpoints."""
        return self.normalizer.state()

    def episode_returns(self) -> np.ndarray:
        """Undiscounted raw return of every episode (float64 numpy array)."""
        return episode_returns_of(self.rewards.cpu().numpy(), self.episode_ends.cpu().numpy())

    def episode_lengths(self) -> np.ndarray:
        ends = self.episode_ends.cpu().numpy()
        return np.diff(np.concatenate([[-1], ends])).astype(np.int64)

    # ------------------------------------------------------------------ sampling
    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> Batch:
        """A uniformly random batch (indices drawn on the dataset's device)."""
        idx = torch.randint(0, len(self), (batch_size,), device=self.device, generator=generator)
        return Batch(
            observations=self._obs_n[idx],
            actions=self.actions[idx],
            rewards=self._rewards_c[idx],
            next_observations=self._next_obs_n[idx],
            terminals=self.terminals[idx],
            indices=idx,
        )

    def normalized_observations(self) -> tuple[Tensor, Tensor]:
        """Every row's observation and next observation as ``sample`` returns them
        (normalised if the dataset normalises observations), (N, obs_dim) each."""
        return self._obs_n, self._next_obs_n

    def to(self, device: str | torch.device) -> OfflineDataset:
        """A copy with every tensor on ``device`` (self if already there)."""
        dev = torch.device(device)
        if dev == self.device:
            return self
        return OfflineDataset(
            observations=self.observations.to(dev),
            actions=self.actions.to(dev),
            rewards=self.rewards.to(dev),
            next_observations=self.next_observations.to(dev),
            terminals=self.terminals.to(dev),
            timeouts=self.timeouts.to(dev),
            normalizer=self.normalizer,
            name=self.name,
            env_id=self.env_id,
            metadata=self.metadata,
        )

    def fingerprint(self) -> str:
        """sha256 (first 16 hex digits) of the transitions' raw contents, whatever file or
        format they came from: two runs with the same fingerprint trained on the same data
        (the suite's rollouts are not bit-reproducible across machines, docs/data/datasets.md)."""
        h = hashlib.sha256()
        for name, a in self.arrays().items():
            h.update(name.encode())
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()[:16]

    def arrays(self) -> dict[str, np.ndarray]:
        """Raw arrays in D4RL layout (float32; terminals and timeouts as bool)."""
        return {
            "observations": self.observations.cpu().numpy(),
            "actions": self.actions.cpu().numpy(),
            "rewards": self.rewards.cpu().numpy(),
            "next_observations": self.next_observations.cpu().numpy(),
            "terminals": self.terminals.cpu().numpy() > 0.5,
            "timeouts": self.timeouts.cpu().numpy() > 0.5,
        }


def _infer_timeouts(terminals: np.ndarray, max_episode_steps: int | None) -> np.ndarray:
    """Timeouts for files without them: an episode ends after ``max_episode_steps`` steps."""
    tout = np.zeros_like(terminals, dtype=bool)
    if not max_episode_steps:
        return tout
    step = 0
    for i, t in enumerate(terminals):
        step += 1
        if t:
            step = 0
        elif step >= max_episode_steps:
            tout[i] = True
            step = 0
    return tout


def _obs_stats(obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    o = obs.astype(np.float64)
    return o.mean(axis=0).astype(np.float32), o.std(axis=0).astype(np.float32)
