"""The contextual bandit with a known answer (genpolicy.toy_bandit).

Behaviour data mixes three action modes (0.5, 0.3, 0.2); the rewarding mode is 1 or 2
depending on the context, never the behaviour's favourite. Behaviour cloning must
reproduce the mix; GMPO and GMPG must put >= 90% of their samples in the best mode.

To stay within the time budget, GMPG starts from the BC model (its behaviour model mu:
GMPG's pretraining phase is exactly this matching loss) and the GMPO run's IQL critic
(its pretraining trains the same critic), and runs only its policy-gradient phase here;
the full two-phase schedule runs in test_rl_resume.py.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from genpolicy import toy_bandit as tb
from genpolicy.algos import build_algorithm
from genpolicy.config import create

OBS = torch.rand(2000, 2, generator=torch.Generator().manual_seed(123)) * 2 - 1


@pytest.fixture(scope="module")
def dataset() -> Any:
    return tb.make_dataset()


def train(name: str, dataset: Any, steps: int | None = None, **over: Any) -> Any:
    cfg = create(name, over)
    torch.manual_seed(0)
    algo = build_algorithm(cfg.algo, cfg.model, cfg.critic, 2, 2, "cpu")
    gen = torch.Generator().manual_seed(1)
    for _ in range(steps or cfg.train.steps):
        algo.update(dataset.sample(algo.batch_size, gen))
    return algo


def fractions(algo: Any) -> dict[str, float]:
    algo.seed_acting(0)
    return tb.mode_fractions(OBS, torch.as_tensor(algo.act(OBS.numpy())))


@pytest.fixture(scope="module")
def bc(dataset: Any) -> Any:
    return train("toy-bc", dataset)


@pytest.fixture(scope="module")
def gmpo(dataset: Any) -> Any:
    return train("toy-gmpo", dataset)


def test_behaviour_data_is_what_the_toy_says(dataset: Any) -> None:
    f = tb.mode_fractions(dataset.observations, dataset.actions)
    for k, p in enumerate(tb.MIX):
        assert abs(f[f"mode{k}"] - p) < 0.02
    assert f["best"] < 0.3 and f["none"] == 0.0


def test_bc_reproduces_the_behaviour_mix(bc: Any) -> None:
    f = fractions(bc)
    for k, p in enumerate(tb.MIX):
        assert abs(f[f"mode{k}"] - p) < 0.07, f
    assert f["none"] < 0.1, f
    assert f["best"] < 0.35, f


def test_gmpo_picks_the_best_mode(gmpo: Any) -> None:
    f = fractions(gmpo)
    assert f["best"] >= 0.9, f


def test_gmpg_picks_the_best_mode(dataset: Any, bc: Any, gmpo: Any) -> None:
    cfg = create("toy-gmpg", {"algo.pretrain_steps": 0})
    torch.manual_seed(0)
    algo: Any = build_algorithm(cfg.algo, cfg.model, cfg.critic, 2, 2, "cpu")
    algo.behaviour.load_state_dict(bc.policy.state_dict())
    algo.critic.load_state_dict(gmpo.critic.state_dict())
    algo.start_policy()
    assert fractions(algo)["best"] < 0.35  # starts as the behaviour policy
    gen = torch.Generator().manual_seed(1)
    for _ in range(200):
        info = algo.update(dataset.sample(algo.batch_size, gen))
    assert torch.isfinite(info["policy/loss"])
    f = fractions(algo)
    assert f["best"] >= 0.9, f
    # the behaviour model stayed frozen
    for p, q in zip(algo.behaviour.parameters(), bc.policy.parameters(), strict=True):
        assert torch.equal(p, q)
