"""IDQL and Diffusion-QL: their pieces checked by hand (the toy-bandit results are in
test_rl_toy.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers import assert_same

from genpolicy.envs import toy_bandit as tb
from genpolicy.errors import GenpolicyError
from genpolicy.rl.algos import build_algorithm
from genpolicy.rl.algos.acting import ActConfig, select_weighted
from genpolicy.rl.critics import CriticConfig, TDCritic
from genpolicy.training.config import RunConfig, create
from genpolicy.training.trainer import fit

SMALL = {"model.hidden": 32, "model.depth": 1, "model.time_dim": 8, "critic.hidden": 32}
MODELS = [("diffusion", "vp"), ("flow", "gvp"), ("flow", "linear"), ("flowmap", "ve")]


@pytest.fixture(scope="module")
def dataset() -> Any:
    return tb.make_dataset(n=2000)


def build(name: str, over: dict[str, Any] | None = None) -> Any:
    cfg = create(name, {**SMALL, "algo.batch_size": 64, **(over or {})})
    return build_algorithm(cfg.algo, cfg.model, cfg.critic, 2, 2, "cpu")


@pytest.mark.parametrize(("kind", "path"), MODELS)
@pytest.mark.parametrize("name", ["toy-idql", "toy-dql"])
def test_every_model_trains_and_acts(dataset: Any, name: str, kind: str, path: str) -> None:
    over: dict[str, Any] = {"model.kind": kind, "model.path": path, "algo.act.candidates": 4}
    over.update({"algo.act.steps": 2, "model.solver": "euler" if kind == "flowmap" else "rk4"})
    if name == "toy-dql":
        over.update({"algo.grad_steps": 2, "algo.ema_start": 1, "algo.ema_every": 1})
    algo = build(name, over)
    for _ in range(3):
        info = algo.update(dataset.sample(64))
        assert all(v.dim() == 0 and torch.isfinite(v) for v in info.values()), info
    obs = np.random.default_rng(0).uniform(-1, 1, (5, 2)).astype(np.float32)
    a = algo.act(obs)
    assert a.shape == (5, 2) and a.dtype == np.float32 and np.abs(a).max() <= 1.0
    if name == "toy-idql":
        algo.cfg.select = "weighted"
        assert algo.act(obs[0]).shape == (2,)


# ---- IDQL ---------------------------------------------------------------------------------
def test_select_weighted_resamples_in_proportion_to_the_weights() -> None:
    w = torch.tensor([[1.0, 3.0, 0.0, 4.0]]).repeat(40_000, 1)
    idx = select_weighted(w, torch.Generator().manual_seed(0))
    freq = torch.bincount(idx, minlength=4).double() / len(idx)
    torch.testing.assert_close(
        freq, torch.tensor([0.125, 0.375, 0.0, 0.5]).double(), atol=0.01, rtol=0
    )


def test_implicit_weights_are_the_expectile_weights() -> None:
    algo = build("toy-idql", {"critic.expectile": 0.8})
    obs, act = torch.rand(64, 2) * 2 - 1, torch.rand(64, 2) * 2 - 1
    adv = algo.critic.q_min(obs, act, target=True) - algo.critic.value(obs)
    w = algo.implicit_weights(obs, act)
    torch.testing.assert_close(w, torch.where(adv < 0, 0.2, 0.8))


def test_idql_selection_rules_pick_the_documented_candidate() -> None:
    algo = build("toy-idql", {"algo.act.candidates": 8, "algo.act.steps": 2})
    obs = torch.rand(6, 2) * 2 - 1
    rep = obs.repeat_interleave(8, 0)

    def candidates() -> torch.Tensor:  # what act draws after seed_acting(0)
        algo.seed_acting(0)
        return algo.policy.sample(rep, steps=2, generator=algo.act_generator).clamp(-1, 1)

    cands = candidates()
    algo.seed_acting(0)
    greedy = torch.as_tensor(algo.act(obs.numpy()))
    q = algo.critic.q_min(rep, cands).view(6, 8)
    torch.testing.assert_close(greedy, cands.view(6, 8, 2)[torch.arange(6), q.argmax(1)])

    algo.cfg.select = "weighted"
    cands = candidates()
    w = algo.implicit_weights(rep, cands).view(6, 8)
    pick = torch.multinomial(w, 1, generator=algo.act_generator).squeeze(1)
    algo.seed_acting(0)
    weighted = torch.as_tensor(algo.act(obs.numpy()))
    torch.testing.assert_close(weighted, cands.view(6, 8, 2)[torch.arange(6), pick])


def test_idql_config_rejects_an_unknown_selection() -> None:
    with pytest.raises(GenpolicyError, match="algo.select"):
        create("toy-idql", {"algo.select": "softmax"})


# ---- Diffusion-QL -------------------------------------------------------------------------
def test_max_q_backup_takes_the_max_over_samples_then_the_min_over_members() -> None:
    torch.manual_seed(0)
    critic = TDCritic(3, 2, CriticConfig(hidden=16, gamma=0.9), backup_samples=4)
    obs, act, nxt = torch.randn(5, 3), torch.randn(5, 2), torch.randn(5, 3)
    rew, done = torch.randn(5), torch.tensor([0.0, 1.0, 0.0, 0.0, 1.0])
    nxt_act = torch.randn(20, 2)  # 4 per state, state-major
    q = critic.q_values(nxt.repeat_interleave(4, 0), nxt_act, target=True).view(2, 5, 4)
    y = rew + 0.9 * (1 - done) * q.max(dim=2).values.min(dim=0).values
    expected = (critic.q_values(obs, act) - y).square().mean(dim=1).sum()
    torch.testing.assert_close(critic.loss(obs, act, rew, nxt, done, nxt_act), expected)
    # without the actor's help the critic asks it for 4 actions per next state
    seen: list[int] = []

    def actor(s: torch.Tensor) -> torch.Tensor:
        seen.append(s.shape[0])
        return torch.zeros(s.shape[0], 2)

    critic.__dict__["actor"] = actor
    critic.update(obs, act, rew, nxt, done)
    assert seen == [20]


def test_q_term_reaches_the_policy_through_the_sampler(dataset: Any) -> None:
    def grads(eta: float) -> list[torch.Tensor]:
        algo = build("toy-dql", {"algo.eta": eta, "algo.grad_steps": 2})
        batch = dataset.sample(64, torch.Generator().manual_seed(0))
        torch.manual_seed(1)
        loss, _ = algo.policy_loss(batch.observations, batch.actions)
        algo.policy_opt.zero_grad()
        loss.backward()
        return [p.grad.clone() for p in algo.policy.parameters() if p.grad is not None]

    bc, both = grads(0.0), grads(1.0)
    assert len(bc) == len(both)
    assert any(not torch.allclose(g, h) for g, h in zip(bc, both, strict=True))


def test_target_policy_ema_schedule(dataset: Any) -> None:
    algo = build("toy-dql", {"algo.ema": 0.5, "algo.ema_every": 2, "algo.ema_start": 4})

    def same() -> bool:
        return all(
            torch.equal(p, e)
            for p, e in zip(algo.policy.parameters(), algo.policy_ema.parameters(), strict=True)
        )

    for step in range(8):
        before = [e.clone() for e in algo.policy_ema.parameters()]
        algo.update(dataset.sample(64))
        moved = any(
            not torch.equal(b, e) for b, e in zip(before, algo.policy_ema.parameters(), strict=True)
        )
        if step % 2:  # odd updates leave the EMA alone
            assert not moved
        elif step < 4:  # copies of the policy before ema_start (taken before this step's update)
            assert moved or step == 0
        else:  # averaged from ema_start on: between the old EMA and the policy
            assert moved and not same()
    assert algo.acting_policy() is algo.policy and algo.acting_weights() == "online"
    algo.cfg.act_with_ema = True
    assert algo.acting_policy() is algo.policy_ema and algo.acting_weights() == "ema"


def test_dql_rejects_a_solver_its_model_lacks() -> None:
    with pytest.raises(GenpolicyError, match="sde"):
        build("toy-dql", {"algo.grad_solver": "sde"})  # the toy's model is a flow


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("algo.eta", -1, "algo.eta"),
        ("algo.grad_steps", 0, "algo.grad_steps"),
        ("algo.ema_every", 0, "algo.ema_every"),
        ("algo.backup_samples", 0, "algo.backup_samples"),
        ("critic.grad_clip", -1, "critic.grad_clip"),
    ],
)
def test_dql_config_checks(key: str, value: Any, match: str) -> None:
    with pytest.raises(GenpolicyError, match=match):
        create("toy-dql", {key: value})


def test_dql_acts_with_the_sampler_it_trains() -> None:
    over = {"algo.grad_steps": None, "algo.act.steps": None}
    algo = build("toy-dql", {**over, "model.steps": 3, "model.solver": "midpoint"})
    assert algo.grad_sampler == (3, "midpoint")
    act = algo.cfg.act
    assert algo.policy.resolve_sampler(algo.policy.cfg, act.steps, act.solver) == (3, "midpoint")


@pytest.mark.parametrize("name", ["toy-idql", "toy-dql"])
def test_interrupted_and_resumed_run_matches_uninterrupted(tmp_path: Path, name: str) -> None:
    over: dict[str, Any] = {**SMALL, "algo.batch_size": 64, "algo.act.candidates": 4}
    over.update({"algo.act.steps": 2, "algo.ema": 0.9, "train.steps": 12})
    over.update({"train.log_every": 2, "train.eval_every": 0, "train.eval_episodes": 10})
    over.update({"train.checkpoint_every": 3, "train.progress": False})
    over["train.tensorboard"] = False
    if name == "toy-dql":  # cross the EMA's start and draw two next actions per state
        over.update({"algo.grad_steps": 2, "algo.ema_start": 6, "algo.ema_every": 2})
        over["algo.backup_samples"] = 2
    full = fit(create(name, {**over, "train.out_dir": str(tmp_path / "a")}))
    cfg = create(name, {**over, "train.out_dir": str(tmp_path / "b")})
    part = fit(cfg, on_step=lambda step, trainer: step == 5)  # as Ctrl-C at step 5
    assert part.interrupted
    resumed = fit(cfg, resume=True)
    assert_same(full.algo.training_state(), resumed.algo.training_state())


def test_a_partial_act_section_keeps_the_algorithms_defaults() -> None:
    """``act: {steps: 2}`` (or --set algo.act.steps=2) fills the rest from IDQLConfig's own
    default act (N = 64), not from ActConfig's class defaults (N = 1)."""
    cfg = create("toy-idql", {"algo.act.steps": 2})
    assert cfg.algo.act == ActConfig(steps=2, candidates=64)
    assert create("toy-dql").algo.act == ActConfig(steps=3, candidates=50)
    assert create("toy-gmpo", {"algo.act.steps": 2}).algo.act == ActConfig(steps=2)
    assert RunConfig.from_dict(cfg.to_dict()) == cfg
