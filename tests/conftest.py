"""Fixtures shared by every test folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

# The files that train models or run sweeps, longest first. `pytest -n auto` hands whole files
# to the workers in collection order (`--dist loadfile --no-loadscope-reorder` in
# pyproject.toml), so a module's fixtures are built once; starting the long files first keeps
# the workers finishing together. A file missing here only runs later.
LONG_FIRST = [
    "experiments/test_sweep.py",
    "rl/test_qgpo.py",
    "generative/test_learning.py",
    "rl/test_compile.py",
    "rl/test_toy_bandit.py",
    "training/test_population.py",
    "training/test_chaos.py",
    "rl/test_gtp.py",
    "training/test_bench.py",
    "rl/test_fql.py",
]
TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONG_FIRST)}

    def key(item: pytest.Item) -> int:
        try:
            name = item.path.resolve().relative_to(TESTS).as_posix()
        except ValueError:
            return len(rank)
        return rank.get(name, len(rank))

    items.sort(key=key)  # stable: each file keeps its own order


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
def make_arrays_fixture():
    return make_arrays
