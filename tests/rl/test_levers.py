"""Learning-efficiency levers: lr schedules, critic warm-up, policy EMA, advantage weights,
extra evaluations with other sampler step counts, and their config errors."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import assert_same

from genpolicy.envs import toy_bandit as tb
from genpolicy.errors import GenpolicyError
from genpolicy.rl.algos import build_algorithm
from genpolicy.rl.algos.acting import generative_act
from genpolicy.rl.algos.base import scheduled_lr
from genpolicy.rl.algos.weighting import advantage_weights
from genpolicy.training import checkpoint as ckpt_io
from genpolicy.training.config import RunConfig, create, load
from genpolicy.training.trainer import fit

GTP_TOY = "gtp/toy-bandit"
TINY = {"model.hidden": 32, "model.depth": 1, "model.time_dim": 8, "critic.hidden": 32}


def tiny_cfg(algo: str, **over: Any) -> RunConfig:
    base: Any = GTP_TOY if algo == "gtp" else f"toy-{algo}"
    over = {**TINY, "algo.batch_size": 32, **over}
    return load(base, over) if algo == "gtp" else create(base, over)


def build(cfg: RunConfig) -> Any:
    torch.manual_seed(0)
    return build_algorithm(cfg.algo, cfg.model, cfg.critic, 2, 2, "cpu")


@pytest.fixture(scope="module")
def data() -> Any:
    return tb.make_dataset()


def run_updates(algo: Any, data: Any, n: int, seed: int = 1) -> None:
    gen = torch.Generator().manual_seed(seed)
    for _ in range(n):
        algo.update(data.sample(32, gen))


def params(module: Any) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


# -- learning-rate schedules -----------------------------------------------------------------
def test_scheduled_lr_closed_form() -> None:
    lr = 1e-3
    for step in (0, 7, 99, 150):
        assert scheduled_lr(lr, step, 100) == lr
    # cosine: lr at the start, the midpoint of lr and lr * r halfway, lr * r at the end
    assert scheduled_lr(lr, 0, 100, "cosine") == pytest.approx(lr)
    assert scheduled_lr(lr, 50, 100, "cosine") == pytest.approx(lr / 2)
    assert scheduled_lr(lr, 25, 100, "cosine") == pytest.approx(
        lr * (1 + math.cos(math.pi / 4)) / 2
    )
    assert scheduled_lr(lr, 100, 100, "cosine") == pytest.approx(0.0, abs=1e-15)
    assert scheduled_lr(lr, 50, 100, "cosine", min_ratio=0.2) == pytest.approx(lr * 0.6)
    assert scheduled_lr(lr, 100, 100, "cosine", min_ratio=0.2) == pytest.approx(lr * 0.2)
    assert scheduled_lr(lr, 500, 100, "cosine", min_ratio=0.2) == pytest.approx(lr * 0.2)
    # linear
    assert scheduled_lr(lr, 0, 100, "linear") == pytest.approx(lr)
    assert scheduled_lr(lr, 25, 100, "linear") == pytest.approx(0.75 * lr)
    assert scheduled_lr(lr, 50, 100, "linear", min_ratio=0.5) == pytest.approx(0.75 * lr)
    # warm-up: (step + 1) / W of lr, then the decay runs over [W, horizon]
    assert scheduled_lr(lr, 0, 100, warmup=10) == pytest.approx(lr / 10)
    assert scheduled_lr(lr, 4, 100, warmup=10) == pytest.approx(lr / 2)
    assert scheduled_lr(lr, 9, 100, warmup=10) == pytest.approx(lr)
    assert scheduled_lr(lr, 10, 110, "linear", warmup=10) == pytest.approx(lr)
    assert scheduled_lr(lr, 60, 110, "linear", warmup=10) == pytest.approx(lr / 2)
    assert scheduled_lr(lr, 4, 110, "cosine", warmup=10) == pytest.approx(lr / 2)


def test_schedule_sets_the_policy_lr_and_critic_lr_stays(data: Any) -> None:
    cfg = tiny_cfg("gmpo", **{"algo.lr_schedule": "cosine", "algo.critic_warmup": 2})
    algo = build(cfg)
    with pytest.raises(GenpolicyError, match="set_horizon"):
        run_updates(algo, data, 3)  # the policy's first update needs the run length
    algo = build(cfg)
    algo.set_horizon(12)
    run_updates(algo, data, 7)  # updates 2..6 are policy updates 0..4 of 10
    expect = scheduled_lr(cfg.algo.lr, 4, 10, "cosine")
    assert algo.policy_opt.param_groups[0]["lr"] == pytest.approx(expect)
    assert expect < cfg.algo.lr
    assert algo.critic.optimizer.param_groups[0]["lr"] == cfg.critic.lr


# -- critic warm-up -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["gmpo", "iql", "gtp"])
def test_critic_warmup_leaves_the_policy_alone(data: Any, name: str) -> None:
    algo = build(tiny_cfg(name, **{"algo.critic_warmup": 3}))
    policy0, critic0 = params(algo.policy), params(algo.critic)
    ema0 = params(algo.policy_ema) if algo.policy_ema is not None else None
    run_updates(algo, data, 3)
    assert same(params(algo.policy), policy0)
    assert ema0 is None or same(params(algo.policy_ema), ema0)
    assert not same(params(algo.critic), critic0)
    run_updates(algo, data, 1, seed=2)
    assert not same(params(algo.policy), policy0)


# -- clone warm-up ------------------------------------------------------------------------------
def test_clone_warmup_clones_the_data_then_weights_it(data: Any) -> None:
    algo = build(tiny_cfg("gmpo", **{"algo.critic_warmup": 2, "algo.clone_warmup": 3}))
    gen = torch.Generator().manual_seed(1)
    phases, infos = [], []
    for _ in range(7):
        phases.append(algo.phase())
        infos.append(algo.update(data.sample(32, gen)))
    assert phases == ["warmup"] * 2 + ["clone"] * 3 + ["train"] * 2
    for info in infos[2:5]:  # every weight 1: the batch's full sample size
        assert float(info["policy/weight_max"]) == 1.0 and float(info["policy/weight_ess"]) == 1.0
    assert float(infos[-1]["policy/weight_ess"]) < 0.99  # the critic's weights from then on


def test_the_clone_loss_is_the_weighted_loss_at_beta_zero(data: Any) -> None:
    """exp(0 * A) = 1 for every sample: the cloning phase's loss is L_pi at beta 0."""
    batch = data.sample(32, torch.Generator().manual_seed(0))
    cloning, weighted = build(tiny_cfg("gmpo")), build(tiny_cfg("gmpo", **{"algo.beta": 0.0}))
    s, a = batch.observations, batch.actions
    noise = cloning.policy.loss_noise(a.shape[-2], a, torch.Generator().manual_seed(3))
    torch.testing.assert_close(
        cloning.clone_loss(s, a, noise)[0], weighted.policy_loss(s, a, noise)[0]
    )


def test_speed_timing_starts_the_weighted_phase_after_the_cloning(data: Any) -> None:
    algo = build(tiny_cfg("gmpo", **{"algo.critic_warmup": 2, "algo.clone_warmup": 3}))
    assert algo.speed_phases() == ["clone", "train"]
    algo.start_phase("train")
    assert algo.phase() == "train"
    algo.start_phase("clone")
    assert algo.phase() == "clone"


# -- policy EMA -------------------------------------------------------------------------------
def test_ema_acts_with_the_averaged_weights(data: Any) -> None:
    online = build(tiny_cfg("gmpo", **{"algo.act.steps": 2}))
    assert online.policy_ema is None and online.acting_weights() == "online"
    algo = build(tiny_cfg("gmpo", **{"algo.ema": 0.9, "algo.act.steps": 2}))
    assert algo.acting_weights() == "ema"
    assert same(params(algo.policy_ema), params(algo.policy))
    before = params(algo.policy)
    run_updates(algo, data, 1)
    for e, p0, p1 in zip(params(algo.policy_ema), before, params(algo.policy), strict=True):
        assert torch.allclose(e, 0.9 * p0 + 0.1 * p1, atol=1e-7)
    run_updates(algo, data, 3, seed=2)
    assert not same(params(algo.policy_ema), params(algo.policy))
    assert all(not p.requires_grad for p in algo.policy_ema.parameters())
    obs = torch.rand(16, 2, generator=torch.Generator().manual_seed(0)) * 2 - 1

    def sample(model: Any) -> torch.Tensor:
        return generative_act(model, obs, algo.cfg.act, torch.Generator().manual_seed(5)).clamp(
            -1, 1
        )

    algo.seed_acting(5)
    acted = torch.as_tensor(algo.act(obs.numpy()))
    assert torch.equal(acted, sample(algo.policy_ema))
    assert not torch.equal(acted, sample(algo.policy))
    gtp = build(tiny_cfg("gtp"))
    assert gtp.acting_weights() == "ema" and gtp.actor_ema is gtp.policy_ema
    gtp0 = build(tiny_cfg("gtp", **{"algo.ema": 0.0}))
    assert gtp0.acting_weights() == "online" and gtp0.actor_ema is gtp0.policy


def test_resume_is_bit_identical_with_cosine_and_ema(tmp_path: Path) -> None:
    def cfg(out: Path) -> RunConfig:
        over = {
            **TINY,
            "algo.batch_size": 64,
            "algo.lr_schedule": "cosine",
            "algo.lr_warmup": 2,
            "algo.lr_min_ratio": 0.1,
            "algo.ema": 0.9,
            "algo.act.steps": 2,
            "train.steps": 10,
            "train.log_every": 2,
            "train.eval_every": 5,
            "train.eval_episodes": 20,
            "train.checkpoint_every": 3,
            "train.progress": False,
            "train.tensorboard": False,
            "train.out_dir": str(out),
        }
        return create("toy-gmpo", over)

    full = fit(cfg(tmp_path / "a"))
    algo: Any = full.algo
    assert algo.horizon == 10
    assert full.summary["acting_weights"] == "ema"
    last_lr = algo.policy_opt.param_groups[0]["lr"]
    assert last_lr == pytest.approx(scheduled_lr(1e-3, 9, 10, "cosine", 2, 0.1))
    part = fit(cfg(tmp_path / "b"), on_step=lambda step, trainer: step == 4)
    assert part.interrupted
    resumed = fit(cfg(tmp_path / "b"), resume=True)
    a, b = full.algo.training_state(), resumed.algo.training_state()
    assert any(k.startswith("policy_ema.") for k in a["modules"])
    assert_same(a, b)  # every weight, EMA weight and optimiser state (lrs included)
    assert [e["eval/score_mean"] for e in full.evals] == [
        e["eval/score_mean"] for e in resumed.evals
    ]


def test_runs_saved_before_the_levers_resume(tmp_path: Path) -> None:
    over = {
        **TINY,
        "algo.batch_size": 32,
        "algo.act.steps": 2,
        "train.steps": 2,
        "train.eval_every": 0,
        "train.eval_episodes": 10,
        "train.progress": False,
        "train.tensorboard": False,
        "train.out_dir": str(tmp_path),
    }
    res = fit(create("toy-gmpo", over))
    path = res.run_dir / "checkpoints" / "last.json"
    ckpt = ckpt_io.load(path)
    new_keys = ("lr_schedule", "lr_warmup", "lr_min_ratio", "critic_warmup", "ema", "weighting")
    for key in new_keys:  # as written by the library before these options existed
        del ckpt["config"]["algo"][key]
    ckpt_io.save(path, {k: v for k, v in ckpt.items() if k not in ("format", "genpolicy_version")})
    resumed = fit(create("toy-gmpo", {**over, "train.steps": 3}), resume=True)
    assert resumed.summary["steps"] == 3


# -- advantage weights --------------------------------------------------------------------------
def test_advantage_weights_closed_form() -> None:
    adv = torch.tensor([-2.0, -0.5, 0.0, 0.3, 1.0, 4.0])
    w = advantage_weights(adv, "exp", 2.0, 100.0)
    assert torch.allclose(w, torch.exp(2.0 * adv).clamp(max=100.0))
    assert w[-1] == 100.0  # exp(8) is capped
    std = adv.std().item()
    w = advantage_weights(adv, "std_positive", 1.5, 50.0, eps=0.01)
    expect = [min(math.exp(1.5 * max(0.0, a) / (std + 0.01)), 50.0) for a in adv.tolist()]
    assert torch.allclose(w, torch.tensor(expect))
    assert torch.equal(w[:3], torch.ones(3))
    for scheme in ("exp", "std_positive"):
        wn = advantage_weights(adv, scheme, 1.0, 1e6, self_normalize=True)
        assert wn.mean().item() == pytest.approx(1.0)
        raw = advantage_weights(adv, scheme, 1.0, 1e6)
        assert torch.allclose(wn, raw / raw.mean())
    with pytest.raises(GenpolicyError, match="weighting"):
        advantage_weights(adv, "softmax", 1.0, 10.0)


def test_algorithms_use_the_chosen_weighting(data: Any) -> None:
    adv = torch.tensor([-1.0, 0.0, 0.5, 2.0])
    gtp = build(tiny_cfg("gtp", **{"algo.weighting": "exp", "algo.self_normalize": True}))
    expect = torch.exp(gtp.cfg.eta * adv).clamp(max=gtp.cfg.weight_clamp)
    assert torch.allclose(gtp.weights(adv), expect / expect.mean())
    gmpo = build(tiny_cfg("gmpo", **{"algo.weighting": "std_positive"}))
    batch = data.sample(32, torch.Generator().manual_seed(0))
    w = gmpo.weights(batch.observations, batch.actions)
    a = gmpo.critic.advantage(batch.observations, batch.actions)
    assert torch.allclose(w, advantage_weights(a, "std_positive", gmpo.cfg.beta, 100.0))
    assert bool((w >= 1).all())  # std_positive never lowers a weight below 1


# -- extra evaluations with other sampler step counts -----------------------------------------
def test_eval_act_steps_logs_each_step_count(tmp_path: Path) -> None:
    over = {
        **TINY,
        "algo.batch_size": 64,
        "algo.act.steps": 3,
        "train.steps": 4,
        "train.log_every": 2,
        "train.eval_every": 2,
        "train.eval_episodes": 20,
        "train.checkpoint_every": 0,
        "train.progress": False,
        "train.tensorboard": False,
        "train.out_dir": str(tmp_path),
        "train.eval_act_steps": "[1, 2]",
        "train.eval_act_candidates": "[4]",
    }
    res = fit(create("toy-gmpo", over))
    algo: Any = res.algo
    assert algo.cfg.act.steps == 3  # restored after the extra evaluations
    rows = [json.loads(x) for x in (res.run_dir / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if r["kind"] == "eval"]
    assert [r["step"] for r in evals] == [2, 4]
    for row in evals:
        for k in (1, 2):
            for key in ("return_mean", "score_mean", "score_std"):
                assert isinstance(row[f"eval_k{k}/{key}"], float), (k, key)
        # the same seeds with other step counts act differently
        assert len({row["eval/return_mean"], row["eval_k1/return_mean"]}) == 2
        assert len({row["eval_k1/return_mean"], row["eval_k2/return_mean"]}) == 2
        # the best of 4 samples by Q: its own series, differing from one sample's
        assert isinstance(row["eval_c4/score_mean"], float)
        assert row["eval_c4/return_mean"] != row["eval/return_mean"]
    last = json.loads((res.run_dir / "summary.json").read_text())["last"]
    assert last["eval_k1/score_mean"] == evals[-1]["eval_k1/score_mean"]
    assert last["eval_k2/score_mean"] == evals[-1]["eval_k2/score_mean"]
    assert "eval_k3/score_mean" not in last
    assert algo.cfg.act.candidates == 1  # restored too


# -- config errors ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("base", "overrides", "message"),
    [
        ("toy-gmpo", ["algo.lr_schedule=exponential"], "unknown algo.lr_schedule"),
        ("toy-gmpo", ["algo.weighting=softmax"], "unknown algo.weighting"),
        ("toy-iql", ["algo.weighting=rank"], "unknown algo.weighting"),
        ("toy-gmpo", ["algo.lr_warmup=-1"], "algo.lr_warmup must be >= 0"),
        ("toy-iql", ["algo.critic_warmup=-5"], "algo.critic_warmup must be >= 0"),
        ("toy-gmpo", ["algo.clone_warmup=-1"], "algo.clone_warmup must be >= 0"),
        ("toy-gmpo", ["algo.lr_min_ratio=1.5"], "algo.lr_min_ratio must be in [0, 1]"),
        ("toy-gmpo", ["algo.ema=1.0"], "algo.ema must be in [0, 1)"),
        ("toy-bc", ["algo.ema=-0.1"], "algo.ema must be in [0, 1)"),
        ("toy-gmpg", ["algo.ema=2"], "algo.ema must be in [0, 1)"),
        ("toy-gmpo", ["algo.grad_clip=-1"], "algo.grad_clip must be >= 0"),
        ("toy-bc", ["algo.critic_warmup=10"], "algo.critic_warmup does not apply"),
        ("toy-gmpg", ["algo.critic_warmup=10"], "algo.pretrain_steps"),
        ("toy-iql", ["train.eval_act_steps=[2]"], "train.eval_act_steps"),
        ("toy-bc", ["algo.policy=gaussian", "train.eval_act_steps=[2]"], "eval_act_steps"),
        ("toy-gmpo", ["train.eval_act_steps=[0]"], "step counts >= 1"),
        ("toy-gmpo", ["train.eval_act_candidates=[1]"], "distinct counts >= 2"),
        ("toy-gmpo", ["train.eval_act_candidates=[4, 4]"], "distinct counts >= 2"),
        ("toy-iql", ["train.eval_act_candidates=[4]"], "train.eval_act_candidates"),
        ("toy-bc", ["algo.policy=generative", "train.eval_act_candidates=[4]"], "no critic"),
        (
            "toy-gmpo",
            ["algo.act.noise_scale=0", "train.eval_act_candidates=[4]"],
            "train.eval_act_candidates=[4]: act.noise_scale=0",
        ),
    ],
)
def test_bad_lever_values_are_one_line_errors(
    base: str, overrides: list[str], message: str
) -> None:
    with pytest.raises(GenpolicyError) as exc:
        create(base, overrides)
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_gtp_bad_values_and_defaults() -> None:
    with pytest.raises(GenpolicyError, match="algo.ema must be in"):
        load(GTP_TOY, {"algo.ema": 1.0})
    with pytest.raises(GenpolicyError, match="unknown algo.weighting"):
        load(GTP_TOY, {"algo.weighting": "std"})
    cfg = create({"algo": {"name": "gtp"}, "model": {"kind": "flowmap"}})  # GTP needs a flow map
    assert cfg.algo.ema == 0.995 and cfg.algo.weighting == "std_positive"
    for name in ("gmpo", "bc", "gmpg", "iql"):
        algo = create({"algo": {"name": name}}).algo
        assert algo.lr_schedule == "constant" and algo.lr_warmup == 0
        assert algo.critic_warmup == 0 and getattr(algo, "ema", 0.0) == 0.0
    assert list(create("toy-gmpo").to_dict()["algo"])[0] == "name"


def test_weight_stats_effective_sample_size() -> None:
    from genpolicy.rl.algos.weighting import weight_stats

    flat = weight_stats(torch.full((8,), 3.0))
    assert flat["policy/weight_ess"].item() == pytest.approx(1.0)
    one = weight_stats(torch.tensor([5.0, 0.0, 0.0, 0.0]))
    assert one["policy/weight_ess"].item() == pytest.approx(0.25)
    assert one["policy/weight_max"].item() == 5.0 and one["policy/weight_mean"].item() == 1.25


def test_act_noise_scale_zero_is_deterministic() -> None:
    from genpolicy.generative.models import ModelConfig, build_model
    from genpolicy.rl.algos.acting import ActConfig, check_act_config

    torch.manual_seed(0)
    model = build_model(ModelConfig(kind="flow", hidden=32, depth=2, steps=4), 2, 3)
    obs = torch.randn(5, 3)
    gens = [torch.Generator().manual_seed(s) for s in (1, 2)]
    sto = [generative_act(model, obs, ActConfig(), g) for g in gens]
    det = [generative_act(model, obs, ActConfig(noise_scale=0.0), g) for g in gens]
    assert not torch.allclose(sto[0], sto[1])
    torch.testing.assert_close(det[0], det[1])
    # scale 0 equals the ODE started at the prior's mean (zeros)
    torch.testing.assert_close(det[0], model.sample(obs, noise=torch.zeros(5, 2)))
    half = generative_act(model, obs, ActConfig(noise_scale=0.5), torch.Generator().manual_seed(1))
    z = model.draw_prior(obs, torch.Generator().manual_seed(1)) * 0.5
    torch.testing.assert_close(half, model.sample(obs, noise=z))
    with pytest.raises(GenpolicyError, match="noise_scale"):
        check_act_config(ActConfig(noise_scale=-1.0), has_critic=True)
    with pytest.raises(GenpolicyError, match="same action"):
        check_act_config(ActConfig(noise_scale=0.0, candidates=4), has_critic=True)


@pytest.mark.parametrize("scheme", ["exp", "std_positive"])
def test_min_ess_lowers_beta_until_the_batch_is_spread(scheme: str) -> None:
    from genpolicy.rl.algos.weighting import ESS_GRID, weight_stats

    adv = torch.linspace(-1.0, 1.0, 256) ** 3 * 3.0
    sharp = advantage_weights(adv, scheme, 20.0, 1000.0)
    assert weight_stats(sharp)["policy/weight_ess"].item() < 0.4
    spread = advantage_weights(adv, scheme, 20.0, 1000.0, min_ess=0.6)
    ess = weight_stats(spread)["policy/weight_ess"].item()
    assert ess >= 0.6
    # the largest grid fraction of beta that reaches the target: one step more falls short
    for k in range(ESS_GRID + 1):
        frac = 1.0 - k / ESS_GRID
        w = advantage_weights(adv, scheme, 20.0 * frac, 1000.0)
        if weight_stats(w)["policy/weight_ess"].item() >= 0.6:
            torch.testing.assert_close(spread, w, rtol=1e-5, atol=1e-6)
            break
    # already spread enough: unchanged
    mild = advantage_weights(adv, scheme, 0.1, 1000.0)
    torch.testing.assert_close(advantage_weights(adv, scheme, 0.1, 1000.0, min_ess=0.6), mild)
    with pytest.raises(GenpolicyError, match="min_ess"):
        create("toy-gmpo", {"algo.min_ess": 1.5})
