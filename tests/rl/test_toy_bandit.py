"""The contextual bandit with a known answer (genpolicy.envs.toy_bandit).

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
from helpers import OBS, fractions, train

from genpolicy.envs import toy_bandit as tb
from genpolicy.rl.algos import ActConfig, build_algorithm
from genpolicy.training.config import create

pytestmark = pytest.mark.slow  # every test here trains a model


@pytest.fixture(scope="module")
def dataset() -> Any:
    return tb.make_dataset()


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


def test_idql_picks_the_best_mode(bc: Any, gmpo: Any) -> None:
    """IDQL = a behaviour model (toy-bc's: the same matching loss) and an IQL critic (the
    GMPO run's: the same critic) combined only at acting time, over 64 candidates."""
    cfg = create("toy-idql")
    algo: Any = build_algorithm(cfg.algo, cfg.model, cfg.critic, 2, 2, "cpu")
    algo.policy.load_state_dict(bc.policy.state_dict())
    algo.critic.load_state_dict(gmpo.critic.state_dict())
    assert fractions(algo)["best"] >= 0.9  # greedy: the highest Q of 64
    algo.cfg.select = "weighted"
    # the implicit policy of expectile 0.7 reweights mu by 0.7 / 0.3 above / below V: with
    # a share p = 0.25 in the best mode, 0.7 p / (0.7 p + 0.3 (1 - p)) = 0.44 at most
    best = fractions(algo)["best"]
    assert fractions(bc)["best"] + 0.08 <= best <= 0.5


def test_dql_picks_the_best_mode(dataset: Any, bc: Any, gmpo: Any) -> None:
    """From the behaviour model and a trained critic (as for GMPG above: from scratch
    toy-dql needs its 2500 updates), 700 updates of BC + Q through the 3-step sampler move
    one sample's share of the best mode from about 0.24 to 0.93 (0.71 after 200)."""
    cfg = create("toy-dql")
    torch.manual_seed(0)
    algo: Any = build_algorithm(cfg.algo, cfg.model, cfg.critic, 2, 2, "cpu")
    algo.policy.load_state_dict(bc.policy.state_dict())
    algo.reset_policy_ema()
    algo.critic.load_state_dict(gmpo.critic.state_dict(), strict=False)  # its twin Q (no V)
    one = ActConfig(steps=3, candidates=1)
    algo.seed_acting(0)
    start = tb.mode_fractions(OBS, torch.as_tensor(algo.act(OBS.numpy(), one)))["best"]
    assert start < 0.35
    gen = torch.Generator().manual_seed(1)
    for _ in range(700):
        info = algo.update(dataset.sample(algo.batch_size, gen))
    assert torch.isfinite(info["policy/loss"])
    algo.seed_acting(0)
    f = tb.mode_fractions(OBS, torch.as_tensor(algo.act(OBS.numpy(), one)))
    assert f["best"] >= 0.9, f  # the policy itself moved to the best mode (0.93 measured)
