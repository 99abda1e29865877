"""Every algorithm runs with every generative model that offers what it needs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from genpolicy.envs import toy_bandit as tb
from genpolicy.rl.algos import build_algorithm
from genpolicy.training.config import create

SMALL = {"model.hidden": 32, "model.depth": 1, "model.time_dim": 8, "critic.hidden": 32}
MODELS = [("diffusion", "vp"), ("flow", "gvp"), ("flow", "linear"), ("flowmap", "ve")]


@pytest.fixture(scope="module")
def dataset() -> Any:
    return tb.make_dataset(n=2000)


def run(name: str, dataset: Any, over: dict[str, Any] | None = None, steps: int = 3) -> Any:
    cfg = create(name, {**SMALL, "algo.batch_size": 64, **(over or {})})
    algo = build_algorithm(cfg.algo, cfg.model, cfg.critic, 2, 2, "cpu")
    for _ in range(steps):
        info = algo.update(dataset.sample(64))
        assert all(v.dim() == 0 and torch.isfinite(v) for v in info.values()), info
    return algo


def check_act(algo: Any) -> None:
    obs = np.random.default_rng(0).uniform(-1, 1, (5, 2)).astype(np.float32)
    a = algo.act(obs)
    assert a.shape == (5, 2) and a.dtype == np.float32 and np.abs(a).max() <= 1.0
    assert algo.act(obs[0]).shape == (2,)


@pytest.mark.parametrize(("kind", "path"), MODELS)
def test_gmpo_and_bc_accept_every_model(dataset: Any, kind: str, path: str) -> None:
    over: dict[str, Any] = {"model.kind": kind, "model.path": path, "algo.act.steps": 2}
    if kind == "flowmap":
        over["model.solver"] = "euler"  # the toy's rk4 default is an ODE solver; flow maps jump
    check_act(run("toy-gmpo", dataset, {**over, "algo.act.candidates": 4}))
    check_act(run("toy-bc", dataset, over))


@pytest.mark.parametrize(("kind", "path"), MODELS[:3])
def test_gmpg_runs_both_phases(dataset: Any, kind: str, path: str) -> None:
    over: dict[str, Any] = {"model.kind": kind, "model.path": path, "algo.act.steps": 2}
    over.update({"algo.pretrain_steps": 2, "algo.policy_batch": 8, "algo.grad_steps": 2})
    algo = run("toy-gmpg", dataset, over, steps=4)
    assert not algo.pretraining
    assert all(not p.requires_grad for p in algo.behaviour.parameters())
    check_act(algo)


@pytest.mark.parametrize("policy", ["gaussian", "deterministic"])
def test_mlp_baselines(dataset: Any, policy: str) -> None:
    check_act(run("toy-bc", dataset, {"algo.policy": policy}))
    check_act(run("toy-iql", dataset))


def test_candidates_pick_the_highest_q(dataset: Any) -> None:
    algo = run("toy-gmpo", dataset, {"algo.act.candidates": 16, "algo.act.steps": 2})
    obs = torch.rand(6, 2) * 2 - 1
    algo.seed_acting(0)
    best = torch.as_tensor(algo.act(obs.numpy()))
    algo.seed_acting(0)
    rep = obs.repeat_interleave(16, 0)
    cands = algo.policy.sample(rep, steps=2, generator=algo.act_generator)
    q = algo.critic.q_min(rep, cands.clamp(-1, 1), target=False).view(6, 16)
    expected = cands.clamp(-1, 1).view(6, 16, 2)[torch.arange(6), q.argmax(1)]
    torch.testing.assert_close(best, expected)
