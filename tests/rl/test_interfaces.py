"""The shared parts new algorithms build on: model capabilities (one check), the critic
interface, the Polyak helper, BC's variants, sampler defaults, the built-in registry, and
evaluation with other sampler settings leaving the algorithm's config alone."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from genpolicy.envs import builtin as builtins
from genpolicy.envs import toy_bandit as tb
from genpolicy.errors import GenpolicyError
from genpolicy.generative.models import (
    FlowMap,
    ModelConfig,
    kinds_with,
    model_class,
    require_capabilities,
)
from genpolicy.rl.algos import (
    GMPG,
    GMPO,
    ActConfig,
    BCConfig,
    GaussianBC,
    GenerativeBC,
    GMPGConfig,
    GMPOConfig,
    GTPConfig,
    algorithm_class,
    build_algorithm,
)
from genpolicy.rl.critics import Critic, CriticConfig, IQLCritic, TDCritic, make_critic
from genpolicy.rl.optim import polyak_update
from genpolicy.training.config import RunConfig, config_diff, create

SMALL = {"model.hidden": 16, "model.depth": 1, "model.time_dim": 8, "critic.hidden": 16}


# -- capabilities ---------------------------------------------------------------------------
def test_models_declare_capabilities() -> None:
    assert kinds_with("log_prob") == ["diffusion", "flow"]
    assert kinds_with("flow_map") == ["flowmap"]
    assert set(kinds_with("sample")) == {"diffusion", "flow", "flowmap"}
    assert GMPG.requires == ("log_prob",) and GMPO.requires == ("sample",)
    assert algorithm_class(GTPConfig()).requires == ("flow_map",)


@pytest.mark.parametrize(
    ("algo", "kind", "needs", "fix"),
    [
        ("gmpg", "flowmap", "GMPG needs likelihoods", "set model.kind=diffusion or flow"),
        ("gtp", "flow", "GTP needs a flow-map policy", "set model.kind=flowmap"),
    ],
)
def test_missing_capability_fails_in_config_and_build(
    algo: str, kind: str, needs: str, fix: str
) -> None:
    # through config validation
    with pytest.raises(GenpolicyError) as info:
        create({"algo": {"name": algo}, "model": {"kind": kind}})
    msg = str(info.value)
    assert needs in msg and f"model.kind={kind!r}" in msg and fix in msg and "\n" not in msg
    # through build_algorithm, with configs that never went through RunConfig.validate
    algo_cfg = GMPGConfig() if algo == "gmpg" else GTPConfig()
    with pytest.raises(GenpolicyError) as info:
        build_algorithm(algo_cfg, ModelConfig(kind=kind), CriticConfig(), 2, 2, "cpu")
    assert str(info.value) == msg


def test_require_capabilities_accepts_configs_instances_and_names() -> None:
    fmap = FlowMap(ModelConfig(kind="flowmap", hidden=8, depth=1, time_dim=4), 2, 1)
    require_capabilities(fmap, ["flow_map"], algo="x")
    require_capabilities("flow", ["log_prob", "sample"], algo="x")
    with pytest.raises(GenpolicyError, match="no model kind offers all of them"):
        require_capabilities(ModelConfig(kind="flow"), ["log_prob", "flow_map"], algo="x")
    with pytest.raises(GenpolicyError, match="unknown capability required by x 'gan'"):
        require_capabilities("flow", ["gan"], algo="x")


# -- critics --------------------------------------------------------------------------------
def _batch(n: int = 64, obs_dim: int = 3, act_dim: int = 2) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    obs = torch.randn(n, obs_dim, generator=g)
    act = torch.rand(n, act_dim, generator=g) * 2 - 1
    return {
        "obs": obs,
        "act": act,
        "rew": (obs[:, 0] - act[:, 0]).sin(),
        "next_obs": torch.randn(n, obs_dim, generator=g),
        "done": (torch.rand(n, generator=g) < 0.1).float(),
    }


@pytest.mark.parametrize("name", ["iql", "td"])
def test_both_critics_satisfy_the_interface(name: str) -> None:
    torch.manual_seed(0)
    cfg = CriticConfig(hidden=16)
    critic = make_critic(name, 3, 2, cfg, actor=lambda s: torch.zeros(s.shape[0], 2))
    assert isinstance(critic, Critic) and isinstance(critic, nn.Module)
    b = _batch()
    info = critic.update(b["obs"], b["act"], b["rew"], b["next_obs"], b["done"])
    assert info and all(k.startswith("critic/") and v.dim() == 0 for k, v in info.items())
    q = critic.q_min(b["obs"], b["act"])
    assert q.shape == (64,) and q.requires_grad  # online by default
    assert not critic.q_min(b["obs"], b["act"], target=True).requires_grad
    adv = critic.advantage(b["obs"], b["act"])
    assert adv.shape == (64,) and not adv.requires_grad
    # state-dict names are the checkpoint format: keep them
    keys = {k.split(".")[0] for k in critic.state_dict()}
    assert keys == ({"q", "q_target", "v"} if name == "iql" else {"q", "q_target"})


def test_td_critic_reduces_its_loss_on_a_toy_batch() -> None:
    torch.manual_seed(0)
    critic = TDCritic(3, 2, CriticConfig(hidden=32, lr=1e-3))
    b = _batch()
    next_act = torch.zeros(64, 2)
    first = critic.loss(b["obs"], b["act"], b["rew"], b["next_obs"], b["done"], next_act).detach()
    for _ in range(200):
        critic.update(b["obs"], b["act"], b["rew"], b["next_obs"], b["done"], next_act)
    last = critic.loss(b["obs"], b["act"], b["rew"], b["next_obs"], b["done"], next_act).detach()
    assert last.item() < 0.2 * first.item()


def test_td_critic_asks_its_actor_or_says_what_is_missing() -> None:
    calls: list[int] = []

    def actor(s: torch.Tensor) -> torch.Tensor:
        calls.append(s.shape[0])
        return torch.zeros(s.shape[0], 2)

    b = _batch(8)
    TDCritic(3, 2, CriticConfig(hidden=8), actor).update(*b.values())
    assert calls == [8]
    with pytest.raises(GenpolicyError, match="TD critic needs the next action"):
        TDCritic(3, 2, CriticConfig(hidden=8)).update(*b.values())
    assert "actor" not in dict(TDCritic(3, 2, CriticConfig(hidden=8), actor).named_children())


def test_polyak_update_is_the_ema_of_the_parameters() -> None:
    online, target = nn.Linear(3, 2), nn.Linear(3, 2)
    before = [p.detach().clone() for p in target.parameters()]
    polyak_update(target, online, 0.25)
    for t, b, o in zip(target.parameters(), before, online.parameters(), strict=True):
        torch.testing.assert_close(t, 0.75 * b + 0.25 * o.detach())
    critic = IQLCritic(3, 2, CriticConfig(hidden=8, polyak=1.0))
    with torch.no_grad():
        for p in critic.q.parameters():
            p.add_(1.0)
    critic.polyak_update()
    for t, o in zip(critic.q_target.parameters(), critic.q.parameters(), strict=True):
        torch.testing.assert_close(t, o.detach())


# -- BC variants ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("policy", "cls"),
    [("generative", GenerativeBC), ("gaussian", GaussianBC), ("deterministic", GaussianBC)],
)
def test_bc_dispatches_by_policy(policy: str, cls: type) -> None:
    cfg = create("toy-bc", {**SMALL, "algo.policy": policy})
    assert algorithm_class(cfg.algo) is cls
    algo = build_algorithm(cfg.algo, cfg.model, cfg.critic, 2, 2, "cpu")
    assert type(algo) is cls and algo.name == "bc"
    assert all(k.startswith(("policy.", "obs_", "_extra")) for k in algo.state_dict())
    assert algo.act(np.zeros((3, 2), np.float32)).shape == (3, 2)
    # a Gaussian policy has no model: any model kind is accepted
    if policy != "generative":
        create("toy-bc", {"algo.policy": policy, "model.kind": "flowmap"})


# -- sampler settings -----------------------------------------------------------------------
def test_each_model_class_declares_its_sampler_defaults() -> None:
    assert model_class("flow").resolve_sampler(ModelConfig()) == (32, "euler")
    assert model_class("diffusion").resolve_sampler(ModelConfig(kind="diffusion")) == (
        32,
        "euler",
    )
    fmap = ModelConfig(kind="flowmap")
    assert model_class("flowmap").resolve_sampler(fmap) == (2, "jump")
    assert model_class("flowmap").resolve_sampler(fmap, 5, "jump") == (5, "jump")
    assert model_class("flow").resolve_sampler(ModelConfig(steps=8, solver="rk4")) == (8, "rk4")
    assert ActConfig().steps is None and GTPConfig().act.steps is None
    with pytest.raises(GenpolicyError, match="flow map samples with jumps"):
        create("default", {"model.kind": "flowmap", "algo.act.solver": "heun"})
    with pytest.raises(GenpolicyError, match="unknown ODE solver 'jump'"):
        create("default", {"algo.act.solver": "jump"})


def test_config_diff_compares_the_sampler_acting_resolves() -> None:
    cur = create("default")
    old = cur.to_dict()
    old["model"].update(steps=8, solver="rk4")  # the toy's model sampler, spelled out...
    assert config_diff(old, cur) == []
    old["algo"]["act"].update(steps=8, solver="rk4")  # ...or moved to algo.act
    assert config_diff(old, cur) == []
    old["algo"]["act"]["steps"] = 4
    assert config_diff(old, cur) == ["algo.act"]
    # a GTP run folder from before the flow map declared its K = 2 default
    gtp = RunConfig.from_dict(
        {"algo": {"name": "gtp"}, "model": {"kind": "flowmap"}}, algorithm_default=False
    )
    saved = gtp.to_dict()
    saved["algo"]["act"] = {"steps": 2, "solver": None, "candidates": 1, "noise_scale": 1.0}
    saved["model"].update(steps=32, solver="euler")
    assert config_diff(saved, gtp) == []


# -- built-in datasets and environments ---------------------------------------------------
def test_toy_bandit_is_a_registered_dataset_and_environment() -> None:
    from genpolicy.envs.evaluate import make_eval_env, normalize, score_task
    from genpolicy.training.run_data import eval_env_id, load_data

    data = builtins.builtin_dataset(tb.NAME)
    env = builtins.builtin_env(tb.NAME)
    assert data is not None and env is not None and data.env_id == tb.NAME
    cfg = create("default")
    ds = load_data(cfg)
    assert ds.name == tb.NAME and eval_env_id(cfg, ds) == tb.NAME
    assert isinstance(make_eval_env(tb.NAME, 2, 0), tb.ToyBanditVectorEnv)
    assert score_task(None, tb.NAME) == tb.NAME
    scores = normalize(tb.NAME, np.array([tb.BEST_HEIGHT]))
    assert scores is not None and scores[0] == 100.0
    assert builtins.builtin_dataset("hopper-medium-v5") is None


def test_a_new_builtin_registers_like_the_toy_bandit(monkeypatch: pytest.MonkeyPatch) -> None:
    from genpolicy.envs.evaluate import evaluate, score_task
    from genpolicy.training.run_data import eval_env_id, load_data

    monkeypatch.setattr(builtins, "DATASETS", dict(builtins.DATASETS))
    monkeypatch.setattr(builtins, "ENVS", dict(builtins.ENVS))
    builtins.register_dataset(
        builtins.BuiltinDataset("my-bandit", lambda d: tb.make_dataset(n=64, device=d), "my-env")
    )
    builtins.register_env(builtins.BuiltinEnv("my-env", tb.ToyBanditVectorEnv, lambda r: 2.0 * r))
    cfg = create("default", {"data.dataset": "my-bandit"})
    ds = load_data(cfg)
    assert len(ds) == 64 and eval_env_id(cfg, ds) == "my-env"
    res = evaluate(lambda o: np.zeros_like(o), "my-env", 4, 0, score_task("my-env"))
    assert res.score_mean == pytest.approx(2.0 * res.return_mean)
    with pytest.raises(GenpolicyError, match="registered twice"):
        builtins.register_env(builtins.BuiltinEnv("my-env", tb.ToyBanditVectorEnv, abs))


# -- evaluating with other sampler settings -----------------------------------------------
def _tiny(tmp_path: Path, **over: Any) -> RunConfig:
    base = {
        **SMALL,
        "algo.batch_size": 32,
        "train.steps": 2,
        "train.eval_every": 0,
        "train.eval_episodes": 4,
        "train.progress": False,
        "train.tensorboard": False,
        "train.out_dir": str(tmp_path),
    }
    return create("toy-gmpo", {**base, **over})


def test_trainer_evaluates_other_steps_with_a_new_act_config(tmp_path: Path) -> None:
    from genpolicy.training.trainer import Trainer

    trainer = Trainer(_tiny(tmp_path))
    assert isinstance(trainer.algo.cfg, GMPOConfig)
    act_before = trainer.algo.cfg.act
    seen: list[int | None] = []
    policy: Any = trainer.algo.policy
    sample = policy.sample

    def spy(states: torch.Tensor, steps: int | None = None, **kw: Any) -> torch.Tensor:
        seen.append(steps)
        return sample(states, steps=steps, **kw)

    policy.sample = spy
    trainer._evaluate_with(4, steps=3)
    assert seen and set(seen) == {3}
    assert trainer.algo.cfg.act is act_before and act_before == ActConfig(steps=None)
    assert trainer.cfg.algo.act is act_before


def test_cli_evaluate_steps_leaves_the_config_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from genpolicy.cli import evaluate as run_cli
    from genpolicy.training import policy
    from genpolicy.training.trainer import fit

    res = fit(_tiny(tmp_path))
    loaded: dict[str, Any] = {}
    real = policy.load_algorithm

    def load_algorithm(*a: Any) -> Any:
        loaded["out"] = real(*a)
        return loaded["out"]

    monkeypatch.setattr(policy, "load_algorithm", load_algorithm)
    args = argparse.Namespace(
        checkpoint=str(res.run_dir), episodes=3, seed=None, candidates=None, steps=1,
        noise_scale=None, device="cpu", env=None,
    )  # fmt: skip
    assert run_cli._evaluate(args) == 0
    out = capsys.readouterr().out
    assert json.loads(out[out.index("{") :])["act"]["steps"] == 1
    algo, cfg, _ = loaded["out"]
    assert algo.cfg.act.steps is None and cfg.algo.act.steps is None


def test_speed_phases_are_the_algorithms_own() -> None:
    from genpolicy.training.speed import measure_speed

    cfg = create("toy-gmpg", {**SMALL, "algo.pretrain_steps": 5, "algo.batch_size": 32})
    algo = build_algorithm(cfg.algo, cfg.model, cfg.critic, 2, 2, "cpu")
    assert algo.speed_phases() == ["pretrain", "policy"]
    speed = measure_speed(cfg, steps=2, dataset=tb.make_dataset(n=256), warmup=1)
    assert set(speed) == {"pretrain_steps_per_s", "steps_per_s", "actions_per_s"}
    bc = create("toy-bc", {**SMALL, "algo.policy": "gaussian"})
    assert algorithm_class(bc.algo)(bc.algo, bc.model, bc.critic, 2, 2).speed_phases() == ["train"]
    assert isinstance(BCConfig(), BCConfig)


def test_load_policy_acts_deterministically_whatever_the_runs_extra_evaluations(
    tmp_path: Path,
) -> None:
    from genpolicy.training.policy import load_policy
    from genpolicy.training.trainer import fit

    res = fit(_tiny(tmp_path, **{"algo.act.candidates": 1, "train.eval_act_candidates": [4]}))
    policy = load_policy(res.run_dir, candidates=1, noise_scale=0.0)
    obs = np.zeros((3, 2), np.float32)
    assert np.array_equal(policy.act(obs), policy.act(obs))
    with pytest.raises(GenpolicyError, match="noise_scale=0 makes every candidate the same"):
        load_policy(res.run_dir, candidates=4, noise_scale=0.0)
