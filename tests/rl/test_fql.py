"""FQL (genpolicy/rl/algos/fql.py): it learns the toy bandit's best mode, its config rejects
bad values, it accepts every model kind, resumes exactly, and acts at batch 1 and N."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers import assert_same, fractions, tiny, train

from genpolicy.envs import toy_bandit as tb
from genpolicy.errors import GenpolicyError
from genpolicy.rl.algos import FQL, ActConfig, build_algorithm
from genpolicy.rl.critics import CriticConfig, TDCritic
from genpolicy.training.checkpoint import load_algorithm
from genpolicy.training.config import create
from genpolicy.training.trainer import fit

SMALL = {
    "model.hidden": 16,
    "model.depth": 1,
    "model.time_dim": 8,
    "critic.hidden": 16,
    "algo.hidden": 16,
    "algo.depth": 1,
}


def small(obs_dim: int = 2, act_dim: int = 2, **over: Any) -> FQL:
    cfg = create("toy-fql", {**SMALL, **over})
    algo = build_algorithm(cfg.algo, cfg.model, cfg.critic, obs_dim, act_dim, "cpu")
    assert isinstance(algo, FQL)
    return algo


# -- learning ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_fql_picks_the_best_mode_where_its_bc_flow_does_not() -> None:
    algo = train("toy-fql", tb.make_dataset())
    f = fractions(algo)  # the one-step policy, one forward pass per action
    assert f["best"] >= 0.9, f
    # the BC flow it distils from (trained on the same batches) keeps the behaviour's modes
    algo.cfg.act_with = "flow"
    g = fractions(algo)
    assert g["best"] < 0.35, g


def test_distillation_target_starts_from_the_same_noise(monkeypatch: pytest.MonkeyPatch) -> None:
    algo = small()
    seen: dict[str, torch.Tensor] = {}
    flow_sample, policy_forward = algo.flow.sample, algo.policy.forward

    def spy_flow(states: torch.Tensor, **kw: Any) -> torch.Tensor:
        seen["flow"] = kw["noise"]
        assert kw["steps"] == 10 and kw["solver"] == "euler" and not torch.is_grad_enabled()
        return flow_sample(states, **kw)

    def spy_policy(states: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        seen["policy"] = noise
        return policy_forward(states, noise)

    monkeypatch.setattr(algo.flow, "sample", spy_flow)
    monkeypatch.setattr(algo.policy, "forward", spy_policy)
    loss, info = algo.actor_loss(torch.randn(8, 2), torch.rand(8, 2) * 2 - 1)
    assert torch.equal(seen["flow"], seen["policy"]) and loss.requires_grad
    assert {"policy/flow_loss", "policy/distill", "policy/q_loss"} <= set(info)


def test_normalize_q_divides_by_the_batch_mean_abs_q() -> None:
    obs, act = torch.randn(16, 2), torch.rand(16, 2) * 2 - 1
    out = {}
    for norm in (False, True):
        algo = small(**{"algo.normalize_q": norm})
        torch.manual_seed(3)
        out[norm] = algo.actor_loss(obs, act)[1]
    q_abs = out[False]["policy/q_loss"].abs()  # -mean Q (same weights: same seed)
    torch.testing.assert_close(out[True]["policy/q_loss"].abs(), torch.tensor(1.0))
    assert not torch.isclose(q_abs, torch.tensor(1.0))


@pytest.mark.parametrize("q_agg", ["mean", "min"])
def test_td_target_aggregates_the_members_as_asked(q_agg: str) -> None:
    critic = TDCritic(3, 2, CriticConfig(hidden=8, gamma=0.5), q_agg=q_agg)
    obs, act, nxt, a2 = torch.randn(5, 3), torch.randn(5, 2), torch.randn(5, 3), torch.randn(5, 2)
    rew, done = torch.randn(5), torch.zeros(5)
    q2 = critic.q_values(nxt, a2, target=True).detach()
    agg = q2.mean(0) if q_agg == "mean" else q2.min(0).values
    want = (critic.q_values(obs, act) - (rew + 0.5 * agg)).square().mean(1).sum()
    torch.testing.assert_close(critic.loss(obs, act, rew, nxt, done, a2), want)


# -- config -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("algo.alpha", -1.0, "algo.alpha must be >= 0"),
        ("algo.q_agg", "max", "algo.q_agg"),
        ("algo.flow_steps", 0, "algo.flow_steps must be >= 1"),
        ("algo.hidden", 0, "algo.hidden and algo.depth must be >= 1"),
        ("algo.act_with", "gauss", "algo.act_with"),
        ("algo.act.candidates", 0, "act.candidates must be >= 1"),
        ("train.eval_act_steps", [2], "acts without a sampler"),
    ],
)
def test_config_rejects_bad_values(key: str, value: Any, match: str) -> None:
    with pytest.raises(GenpolicyError, match=match) as info:
        create("toy-fql", {key: value})
    assert "\n" not in str(info.value)


def test_configs_round_trip_and_accept_every_model_kind() -> None:
    from genpolicy.training.config import RunConfig

    cfg = create("toy-fql", {"algo.act_with": "flow", "train.eval_act_steps": [2]})
    assert RunConfig.from_dict(cfg.to_dict()) == cfg
    for kind, path in [("diffusion", "vp"), ("flowmap", "ve")]:
        over: dict[str, Any] = {"model.kind": kind, "model.path": path, "algo.flow_solver": None}
        algo = small(**over)
        data = tb.make_dataset(n=64)
        info = algo.update(data.sample(32, torch.Generator().manual_seed(0)))
        assert all(bool(torch.isfinite(v)) for v in info.values()), (kind, info)
    # a teacher solver the model cannot use fails in one line when the algorithm is built
    teacher: dict[str, Any] = {
        "model.kind": "flowmap",
        "model.path": "ve",
        "algo.flow_solver": "euler",
    }
    with pytest.raises(GenpolicyError, match="jump"):
        small(**teacher)


# -- checkpoints and acting -------------------------------------------------------------------
def test_interrupted_and_resumed_run_matches_uninterrupted(tmp_path: Path) -> None:
    extra = {"algo.hidden": 32, "algo.depth": 2}
    full = fit(tiny("fql", tmp_path / "a", **extra))
    cfg = tiny("fql", tmp_path / "b", **extra)
    part = fit(cfg, on_step=lambda step, trainer: step == 5)
    assert part.interrupted and part.summary["steps"] == 5
    resumed = fit(cfg, resume=True)
    assert_same(full.algo.training_state(), resumed.algo.training_state())
    keys = {k.split(".")[0] for k in full.algo.state_dict()}
    assert {"flow", "policy", "critic"} <= keys
    algo, loaded_cfg, _ = load_algorithm(full.run_dir)
    obs = np.random.default_rng(0).uniform(-1, 1, (5, 2)).astype(np.float32)
    algo.seed_acting(1)
    full.algo.seed_acting(1)
    assert (algo.act(obs) == full.algo.act(obs)).all() and loaded_cfg.algo.name == "fql"


@pytest.mark.parametrize("act_with", ["onestep", "flow"])
def test_acts_at_batch_1_and_n_on_hopper_sizes(act_with: str) -> None:
    algo = small(11, 3, **{"algo.act_with": act_with})
    obs = np.random.default_rng(0).normal(size=(7, 11)).astype(np.float32)
    one = algo.act(obs[0])
    many = algo.act(obs)
    assert one.shape == (3,) and many.shape == (7, 3) and many.dtype == np.float32
    assert np.abs(many).max() <= 1.0
    ranked = algo.act(obs, ActConfig(candidates=4))
    assert ranked.shape == (7, 3)
    det = [algo.act(obs, ActConfig(noise_scale=0.0)) for _ in range(2)]
    assert (det[0] == det[1]).all()  # z = 0: one deterministic action per state
