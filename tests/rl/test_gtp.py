"""GTP (genpolicy.rl.algos.gtp) on the contextual bandit with a known answer.

The behaviour data mixes three action modes (0.5, 0.3, 0.2) and the rewarding mode is
never the behaviour's favourite (genpolicy/envs/toy_bandit.py). GTP trained with the shipped
toy config must put >= 90% of its actions in the rewarding mode with ONE and with TWO
flow-map jumps; with eta = 0 (behaviour cloning of the flow map) it must instead keep
the behaviour's mix. The ablation switches (TD critic, non-anchored target) must build
and train, and a checkpoint written by the training loop must rebuild the same policy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from genpolicy.envs import toy_bandit as tb
from genpolicy.errors import GenpolicyError
from genpolicy.rl.algos import GTP, build_algorithm
from genpolicy.training.checkpoint import load_algorithm
from genpolicy.training.config import load
from genpolicy.training.trainer import fit

TOY = "gtp/toy-bandit"
OBS = torch.rand(2000, 2, generator=torch.Generator().manual_seed(123)) * 2 - 1
TINY = {"model.hidden": 32, "model.depth": 1, "model.time_dim": 8, "critic.hidden": 32}


@pytest.fixture(scope="module")
def dataset() -> Any:
    torch.set_num_threads(1)
    return tb.make_dataset()


def train(dataset: Any, steps: int | None = None, **over: Any) -> Any:
    cfg = load(TOY, over)
    torch.manual_seed(0)
    algo = build_algorithm(cfg.algo, cfg.model, cfg.critic, 2, 2, "cpu")
    gen = torch.Generator().manual_seed(1)
    info: dict[str, torch.Tensor] = {}
    for _ in range(steps or cfg.train.steps):
        info = algo.update(dataset.sample(algo.batch_size, gen))
    assert all(bool(torch.isfinite(v)) for v in info.values()), info
    return algo


def fractions(algo: Any, jumps: int) -> dict[str, float]:
    algo.cfg.act.steps = jumps
    algo.seed_acting(0)
    return tb.mode_fractions(OBS, torch.as_tensor(algo.act(OBS.numpy())))


@pytest.fixture(scope="module")
def gtp(dataset: Any) -> Any:
    return train(dataset)


@pytest.mark.slow
@pytest.mark.parametrize("jumps", [1, 2])
def test_gtp_picks_the_best_mode_in_one_and_two_jumps(gtp: Any, jumps: int) -> None:
    f = fractions(gtp, jumps)
    assert f["best"] >= 0.9, f


@pytest.mark.slow
def test_bc_only_keeps_the_behaviour_mix(dataset: Any) -> None:
    bc = train(dataset, steps=600, **{"algo.eta": 0.0})
    f = fractions(bc, 2)
    inside = 1.0 - f["none"]
    assert inside > 0.6, f
    share = [f[f"mode{k}"] / inside for k in range(3)]  # the mix among in-mode actions
    for k, p in enumerate(tb.MIX):
        assert abs(share[k] - p) < 0.1, (share, f)
    assert f["best"] < 0.4, f


def test_weights_follow_the_paper() -> None:
    algo = build_algorithm(*_tiny_parts(), 2, 2, "cpu")
    assert isinstance(algo, GTP)
    adv = torch.tensor([-1.0, 0.0, 0.5, 2.0])
    cfg = algo.cfg
    expect = torch.exp(cfg.eta * adv.clamp(min=0) / (adv.std() + cfg.eps))
    assert torch.allclose(algo.weights(adv), expect.clamp(max=cfg.weight_clamp))
    assert torch.equal(algo.weights(adv)[:2], torch.ones(2))  # A <= 0 keeps weight 1
    cfg.eta = 0.0
    assert torch.equal(algo.weights(adv), torch.ones(4))


def _tiny_parts(**over: Any) -> tuple[Any, Any, Any]:
    cfg = load(TOY, {**TINY, **over})
    return cfg.algo, cfg.model, cfg.critic


@pytest.mark.parametrize(
    "over",
    [
        {"algo.critic": "td"},
        {"algo.anchored": False},
        {"model.anchored": False, "algo.critic": "td", "algo.td_steps": 1},
    ],
)
def test_ablation_switches_build_and_train(dataset: Any, over: dict[str, Any]) -> None:
    algo = build_algorithm(*_tiny_parts(**over), 2, 2, "cpu")
    assert isinstance(algo, GTP)
    anchored = over.get("algo.anchored", over.get("model.anchored", True))
    assert algo.policy.cfg.anchored is anchored
    before = [p.clone() for p in algo.actor_ema.net.parameters()]
    gen = torch.Generator().manual_seed(1)
    for _ in range(5):
        info = algo.update(dataset.sample(64, gen))
    assert all(bool(torch.isfinite(v)) for v in info.values()), info
    assert ("critic/v_loss" in info) is (over.get("algo.critic", "iql") == "iql")
    after = list(algo.actor_ema.net.parameters())
    assert any(
        not torch.equal(a, b) for a, b in zip(before, after, strict=True)
    )  # the EMA actor follows the policy
    assert algo.act(OBS[:3].numpy()).shape == (3, 2)


def test_bad_settings_are_one_line_errors() -> None:
    with pytest.raises(GenpolicyError, match="model.kind=flowmap"):
        build_algorithm(*_tiny_parts(**{"model.kind": "flow"}), 2, 2, "cpu")
    with pytest.raises(GenpolicyError, match="algo.critic"):
        load(TOY, {"algo.critic": "cql"})
    with pytest.raises(GenpolicyError, match="algo.eta"):
        load(TOY, {"algo.eta": -1})


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    over = {
        **TINY,
        "algo.critic": "td",
        "train.steps": 6,
        "train.eval_every": 0,
        "train.eval_episodes": 10,
        "train.checkpoint_every": 3,
        "train.progress": False,
        "train.tensorboard": False,
        "train.out_dir": str(tmp_path),
    }
    res = fit(load(TOY, over))
    algo, cfg, ckpt = load_algorithm(res.run_dir / "checkpoints" / "last.json")
    assert cfg.algo.name == "gtp" and ckpt["step"] == 6
    assert isinstance(res.algo, GTP)
    loaded = algo.state_dict()
    assert loaded.keys() == res.algo.state_dict().keys()
    for key, value in res.algo.state_dict().items():
        same = torch.equal(value, loaded[key]) if torch.is_tensor(value) else value == loaded[key]
        assert same, key
    obs = OBS[:5].numpy()
    for jumps in (1, 2, 5):
        res.algo.cfg.act.steps = algo.cfg.act.steps = jumps
        res.algo.seed_acting(7)
        algo.seed_acting(7)
        assert (algo.act(obs) == res.algo.act(obs)).all()


@pytest.mark.parametrize("critic", ["iql", "td"])
def test_interrupted_run_resumes_exactly(tmp_path: Path, critic: str) -> None:
    def cfg(out: Path) -> Any:
        over = {
            **TINY,
            "algo.critic": critic,
            "algo.batch_size": 32,
            "train.steps": 8,
            "train.eval_every": 0,
            "train.eval_episodes": 10,
            "train.checkpoint_every": 2,
            "train.log_every": 2,
            "train.progress": False,
            "train.tensorboard": False,
            "train.out_dir": str(out),
        }
        return load(TOY, over)

    full = fit(cfg(tmp_path / "a"))
    part = fit(cfg(tmp_path / "b"), on_step=lambda step, trainer: step == 3)
    assert part.interrupted
    resumed = fit(cfg(tmp_path / "b"), resume=True)
    a, b = full.algo.state_dict(), resumed.algo.state_dict()
    for key, value in a.items():
        same = torch.equal(value, b[key]) if torch.is_tensor(value) else value == b[key]
        assert same, key
