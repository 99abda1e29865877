"""Fixtures shared by every test folder."""

from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    yield


def make_arrays(
    n_episodes: int = 3, length: int = 5, obs_dim: int = 11, act_dim: int = 3, seed: int = 0
) -> dict[str, np.ndarray]:
    """Consecutive episodes: the first terminates, the others time out; next obs follow obs."""
    rng = np.random.default_rng(seed)
    cols: dict[str, list[np.ndarray]] = {
        k: []
        for k in (
            "observations",
            "actions",
            "rewards",
            "next_observations",
            "terminals",
            "timeouts",
        )
    }
    for e in range(n_episodes):
        traj = rng.normal(size=(length + 1, obs_dim)).astype(np.float32)
        cols["observations"].append(traj[:-1])
        cols["next_observations"].append(traj[1:])
        cols["actions"].append(rng.uniform(-1, 1, size=(length, act_dim)).astype(np.float32))
        cols["rewards"].append(rng.normal(size=length).astype(np.float32) + e)
        term = np.zeros(length, bool)
        tout = np.zeros(length, bool)
        (term if e == 0 else tout)[-1] = True
        cols["terminals"].append(term)
        cols["timeouts"].append(tout)
    return {k: np.concatenate(v) for k, v in cols.items()}


@pytest.fixture
def arrays() -> dict[str, np.ndarray]:
    return make_arrays()


@pytest.fixture(name="make_arrays")
def make_arrays_fixture():  # type: ignore[no-untyped-def]
    return make_arrays
