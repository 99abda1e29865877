"""QGPO (genpolicy/rl/algos/qgpo.py): the toy bandit, config checks, checkpoints, acting shapes,
and the guided sampler it adds to the ODE models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers import assert_same, fractions, quiet_run, train

from genpolicy.envs import toy_bandit as tb
from genpolicy.errors import GenpolicyError
from genpolicy.generative.models import ModelConfig, build_model
from genpolicy.rl.algos import QGPO, build_algorithm
from genpolicy.training.checkpoint import load_algorithm
from genpolicy.training.config import RunConfig, create
from genpolicy.training.trainer import fit

TINY = {"model.hidden": 16, "model.depth": 1, "model.time_dim": 8, "critic.hidden": 16}


@pytest.fixture(scope="module")
def dataset() -> Any:
    return tb.make_dataset()


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 2])
def test_qgpo_picks_the_best_mode(dataset: Any, seed: int) -> None:
    """toy-qgpo puts >= 90% of its actions in the best mode on more than one seed (0.944,
    0.940, 0.970, 0.941 on seeds 0-3, benchmarks/results/qgpo_bandit.json)."""
    algo = train("toy-qgpo", dataset, seed=seed)
    assert isinstance(algo, QGPO) and not algo.pretraining
    algo.cfg.guidance_scale = 0.0  # the behaviour model alone keeps the behaviour mix
    assert fractions(algo)["best"] < 0.4
    algo.cfg.guidance_scale = 2.0
    f = fractions(algo)
    assert f["best"] >= 0.9, f


def test_config_rejects_models_without_a_score_and_bad_values() -> None:
    with pytest.raises(GenpolicyError, match="QGPO needs the noise/score prediction"):
        create("toy-qgpo", {"model.kind": "flowmap"})
    for key, value, msg in [
        ("algo.support", 1, "algo.support must be >= 2"),
        ("algo.critic_batch", 1024, "algo.critic_batch must be in"),
        ("algo.guidance_scale", -1, "algo.guidance_scale must be >= 0"),
        ("algo.support_steps", 0, "algo.support_steps must be >= 1"),
        ("algo.critic_warmup", 5, "does not apply to 'qgpo'"),
        ("algo.support_mode", "once", "algo.support_mode"),
        ("algo.support_max_mb", 0, "algo.support_max_mb must be > 0"),
    ]:
        with pytest.raises(GenpolicyError, match=msg) as info:
            create("toy-qgpo", {key: value})
        assert "\n" not in str(info.value)
    cfg = create("toy-qgpo")
    assert RunConfig.from_dict(cfg.to_dict()) == cfg


def test_guidance_adds_its_score_to_the_ode() -> None:
    torch.manual_seed(0)
    model: Any = build_model(ModelConfig(kind="diffusion", path="vp", hidden=16, depth=1), 2, 3)
    assert model.score_gain(0.5) == pytest.approx(-0.5 * (0.1 + 0.5 * 19.9))
    s, noise = torch.randn(4, 3), torch.randn(4, 2)
    with torch.no_grad():
        plain = model.sample(s, steps=4, noise=noise)
        zero = model.sample(s, steps=4, noise=noise, guidance=lambda x, t: torch.zeros_like(x))
        up = model.sample(s, steps=4, noise=noise, guidance=lambda x, t: torch.ones_like(x))
    assert torch.equal(plain, zero)
    assert bool((up > plain).all())  # a positive extra score moves samples up
    flow: Any = build_model(ModelConfig(kind="flow", path="linear", hidden=16, depth=1), 2, 3)
    assert flow.score_gain(1.0) == 0.0  # pure noise: no guidance
    x, t = torch.randn(4, 2), torch.full((4,), 0.3)
    z = flow.noise(x, t, s)  # velocity converted to noise, then back
    v = flow.net(x, flow.net_time(t), s)
    torch.testing.assert_close(flow.path.convert(z, x, t, "noise", "velocity"), v)


def test_checkpoint_round_trip_and_acting_shapes(tmp_path: Path) -> None:
    over = {
        **TINY,
        "algo.batch_size": 32,
        "algo.critic_batch": 8,
        "algo.support": 4,
        "algo.pretrain_steps": 3,
        "algo.act.steps": 3,
        **quiet_run(tmp_path, steps=6),
    }
    res = fit(create("toy-qgpo", over))
    algo, cfg, _ = load_algorithm(res.run_dir)
    assert_same(algo.training_state(), res.algo.training_state())
    obs = np.random.default_rng(0).uniform(-1, 1, (5, 2)).astype(np.float32)
    res.algo.seed_acting(1)
    algo.seed_acting(1)
    assert (algo.act(obs) == res.algo.act(obs)).all()
    assert algo.act(obs).shape == (5, 2) and algo.act(obs[0]).shape == (2,)
    cfg.algo.act.candidates = 3  # ranked by Q
    assert algo.act(obs, cfg.algo.act).shape == (5, 2)


def test_speed_phases() -> None:
    cfg = create("toy-qgpo", TINY)
    algo: Any = build_algorithm(cfg.algo, cfg.model, cfg.critic, 2, 2, "cpu")
    assert algo.speed_phases() == ["pretrain", "guidance"]
    algo.start_phase("guidance")
    assert not algo.pretraining


def test_support_set_is_drawn_once_per_row_and_again_identically(tmp_path: Path) -> None:
    """support_mode dataset: the first phase-2 update draws M actions for every row's state
    (and non-terminal next state); updates only index them, and a run resumed before they
    were drawn or after (tests/training: after) ends with the uninterrupted run's state."""
    data = tb.make_dataset(n=300)
    cfg = create("toy-qgpo", {**TINY, "algo.pretrain_steps": 2, "algo.support": 4})
    torch.manual_seed(0)
    algo: Any = build_algorithm(cfg.algo, cfg.model, cfg.critic, 2, 2, "cpu")
    with pytest.raises(GenpolicyError, match="needs the dataset") as info:
        algo.draw_support_bank()
    assert "\n" not in str(info.value)
    algo.attach_dataset(data)
    gen = torch.Generator().manual_seed(1)
    for _ in range(3):
        algo.update(data.sample(64, gen))
    sup, sup2 = algo.bank
    assert sup.shape == sup2.shape == (300, 4, 2) and sup.abs().max() <= 1.0
    assert bool((sup2 == 0).all())  # the bandit's rows are all terminal: no next supports
    again = algo.draw_support_bank()
    assert torch.equal(again[0], sup)  # the same weights and seed: the same bank
    algo.update(data.sample(64, gen))
    assert algo.bank[0] is sup  # drawn once, not per update

    small = {**TINY, "algo.pretrain_steps": 3, "algo.support": 4, "algo.critic_batch": 8}
    over = {**small, "algo.act.steps": 3, **quiet_run(tmp_path / "a", steps=6)}
    full = fit(create("toy-qgpo", over), dataset=data)
    cfg = create("toy-qgpo", {**over, "train.out_dir": str(tmp_path / "b")})
    part = fit(cfg, dataset=data, on_step=lambda step, trainer: step == 2)  # before the draw
    assert part.interrupted
    resumed = fit(cfg, dataset=data, resume=True)
    assert_same(full.algo.training_state(), resumed.algo.training_state())


def test_support_set_memory_is_capped() -> None:
    cfg = create("toy-qgpo", {**TINY, "algo.support_max_mb": 1})
    algo: Any = build_algorithm(cfg.algo, cfg.model, cfg.critic, 2, 2, "cpu")
    # 20,000 rows x 2 x 8 actions x 2 dims x 4 bytes = 2.4 MiB
    with pytest.raises(GenpolicyError, match="over algo.support_max_mb=1") as info:
        algo.attach_dataset(tb.make_dataset())
    assert "\n" not in str(info.value)
    cfg = create("toy-qgpo", {**TINY, "algo.support_max_mb": 1, "algo.support_mode": "fresh"})
    algo = build_algorithm(cfg.algo, cfg.model, cfg.critic, 2, 2, "cpu")
    algo.attach_dataset(tb.make_dataset())  # fresh: nothing is stored
