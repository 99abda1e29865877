"""SRPO (genpolicy/rl/algos/srpo.py): the toy bandit, config checks, checkpoints, acting shapes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers import assert_same, fractions, quiet_run

from genpolicy.envs import toy_bandit as tb
from genpolicy.errors import GenpolicyError
from genpolicy.rl.algos import SRPO, build_algorithm
from genpolicy.training.checkpoint import load_algorithm
from genpolicy.training.config import RunConfig, create
from genpolicy.training.trainer import fit

TINY = {"model.hidden": 16, "model.depth": 1, "model.time_dim": 8, "critic.hidden": 16}


@pytest.mark.slow
def test_srpo_picks_the_best_mode() -> None:
    cfg = create("toy-srpo")
    torch.manual_seed(0)
    algo: Any = build_algorithm(cfg.algo, cfg.model, cfg.critic, 2, 2, "cpu")
    algo.set_horizon(cfg.train.steps)  # the actor's cosine schedule (the trainer does this)
    dataset, gen = tb.make_dataset(), torch.Generator().manual_seed(1)
    for _ in range(cfg.train.steps):
        algo.update(dataset.sample(algo.batch_size, gen))
    assert isinstance(algo, SRPO) and not algo.pretraining
    f = fractions(algo)
    assert f["best"] >= 0.9, f


def test_config_rejects_models_without_a_score_and_bad_values() -> None:
    with pytest.raises(GenpolicyError, match="SRPO needs the noise/score prediction"):
        create("toy-srpo", {"model.kind": "flowmap"})
    for key, value, msg in [
        ("algo.policy_batch", 0, "algo.policy_batch must be in"),
        ("algo.beta", -1, "algo.beta must be >= 0"),
        ("algo.weighting", "vds", "unknown algo.weighting 'vds'"),
        ("algo.critic_warmup", 5, "does not apply to 'srpo'"),
    ]:
        with pytest.raises(GenpolicyError, match=msg) as info:
            create("toy-srpo", {key: value})
        assert "\n" not in str(info.value)
    cfg = create("toy-srpo")
    assert RunConfig.from_dict(cfg.to_dict()) == cfg


def test_policy_gradient_is_the_score_regulariser_plus_q() -> None:
    """With beta 0 and no baseline, the actor's gradient is E[w(t) z_mu(a_t)] da/dtheta."""
    cfg = create("toy-srpo", {**TINY, "algo.beta": 0.0, "algo.baseline": False})
    torch.manual_seed(0)
    algo: Any = build_algorithm(cfg.algo, cfg.model, cfg.critic, 2, 2, "cpu")
    obs = torch.rand(64, 2)
    torch.manual_seed(1)
    algo.policy_loss(obs)["loss"].backward()
    got = [p.grad.clone() for p in algo.policy.parameters()]
    algo.policy.zero_grad()
    torch.manual_seed(1)  # the same t and z by hand
    a = algo.actor(obs)
    mu = algo.behaviour
    u = 0.02 + 0.96 * torch.rand(64)
    t = mu.t_min + (mu.t_max - mu.t_min) * u
    with torch.no_grad():
        ps = mu.path.sample_xt(a, t)
        target = mu.path.sigma(t)[:, None] ** 2 * mu.noise(ps.xt, t, obs)
    (target * a).sum(-1).mean().backward()
    for g, p in zip(got, algo.policy.parameters(), strict=True):
        torch.testing.assert_close(g, p.grad)


def test_checkpoint_round_trip_and_acting_shapes(tmp_path: Path) -> None:
    over = {
        **TINY,
        "algo.batch_size": 32,
        "algo.critic_batch": 16,
        "algo.policy_batch": 16,
        "algo.pretrain_steps": 3,
        **quiet_run(tmp_path, steps=6),
    }
    res = fit(create("toy-srpo", over))
    algo, _, _ = load_algorithm(res.run_dir)
    assert_same(algo.training_state(), res.algo.training_state())
    obs = np.random.default_rng(0).uniform(-1, 1, (5, 2)).astype(np.float32)
    assert (algo.act(obs) == res.algo.act(obs)).all()
    assert algo.act(obs).shape == (5, 2) and algo.act(obs[0]).shape == (2,)
    cfg = create("toy-srpo", TINY)
    phased: Any = build_algorithm(cfg.algo, cfg.model, cfg.critic, 2, 2, "cpu")
    assert phased.speed_phases() == ["pretrain", "policy"]
    phased.start_phase("policy")
    assert not phased.pretraining
