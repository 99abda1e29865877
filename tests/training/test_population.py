"""Populations: member k of a batched population follows the lone run with its seed."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import TINY_MODEL, tiny

from genpolicy.envs import toy_bandit as tb
from genpolicy.errors import GenpolicyError
from genpolicy.rl.algos import build_algorithm
from genpolicy.training.config import create
from genpolicy.training.population import (
    Population,
    clip_per_member,
    fit_population,
    pack_key,
    population_of,
    stack_batches,
)
from genpolicy.training.trainer import fit

STEPS = 150


def rows(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r.get("kind") == "train"]


def quiet(algo: str, out: Path, seed: int, **extra: Any) -> Any:
    over = {
        "train.steps": STEPS,
        "train.log_every": 10,
        "train.eval_every": 0,
        "train.eval_episodes": 10,
        "train.checkpoint_every": 50,
        "train.seed": seed,
        "train.run_name": f"s{seed}",
        **extra,
    }
    if algo == "gtp":  # the flow-map policy's toy config
        gtp = {**TINY_MODEL, "algo.batch_size": 64, "train.progress": False}
        return create(
            "gtp/toy-bandit", {**gtp, "train.tensorboard": False, "train.out_dir": str(out), **over}
        )
    return tiny(algo, out, **over)


def assert_follows(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    """A member's logged rows are the lone run's: the same steps, the same metrics, the
    same values up to float tolerance."""
    assert [r["step"] for r in got] == [r["step"] for r in want]
    for a, b in zip(got, want, strict=True):
        keys = [k for k in b if "/" in k]
        assert sorted(k for k in a if "/" in k) == sorted(keys)
        for k in keys:
            assert a[k] == pytest.approx(b[k], rel=1e-3, abs=1e-5), (a["step"], k)


@pytest.mark.parametrize(
    "algo,extra",
    [
        ("bc", {}),  # a generative BC: the flow's loss draws its noise per member
        ("bc", {"algo.policy": "gaussian", "algo.grad_clip": 0.5}),
        ("iql", {"algo.grad_clip": 1.0}),
        ("gmpo", {"algo.ema": 0.9, "algo.clone_warmup": 20}),
        ("gtp", {"algo.critic_warmup": 20}),
    ],
)
def test_member_follows_the_lone_run(tmp_path: Path, algo: str, extra: dict[str, Any]) -> None:
    members = [quiet(algo, tmp_path / "pop", s, **extra) for s in (0, 1, 2)]
    results = fit_population(members)
    lone = fit(quiet(algo, tmp_path / "lone", 1, **extra))
    got, want = rows(tmp_path / "pop" / "s1"), rows(lone.run_dir)
    assert "policy/loss" in want[-1]
    assert_follows(got, want)
    # the weights at the end, and the other members really differ
    pop_state = results[1].algo.state_dict()
    for name, t in lone.algo.state_dict().items():
        if isinstance(t, torch.Tensor) and t.is_floating_point():
            assert torch.allclose(pop_state[name], t, rtol=1e-3, atol=1e-4), name
    assert rows(tmp_path / "pop" / "s0")[-1]["policy/loss"] != got[-1]["policy/loss"]
    # each member's folder is an ordinary run: summary, checkpoint, evaluation
    for r, cfg in zip(results, members, strict=True):
        summary = json.loads((r.run_dir / "summary.json").read_text())
        assert summary["steps"] == STEPS and summary["seed"] == cfg.train.seed
        assert summary["last"]["step"] == STEPS
        assert (r.run_dir / "checkpoints" / "last.safetensors").is_file()
    assert results[1].summary["last"]["eval/return_mean"] == pytest.approx(
        lone.summary["last"]["eval/return_mean"], rel=1e-3, abs=1e-3
    )


@pytest.mark.parametrize(
    "algo,settings",
    [
        ("gmpo", [{"algo.beta": 1.0, "algo.lr": 1e-3}, {"algo.beta": 0.0, "critic.lr": 1e-3}]),
        ("iql", [{"algo.beta": 1.0}, {"algo.lr": 1e-4}]),
        ("gtp", [{"algo.eta": 0.5, "critic.lr": 1e-4}, {"algo.eta": 4.0}]),
    ],
)
def test_members_with_their_own_settings_follow_their_lone_runs(
    tmp_path: Path, algo: str, settings: list[dict[str, Any]]
) -> None:
    """A population over learning rates and temperatures (and seeds): each member follows
    the lone run with its own settings, and its folder's config holds them."""
    members = [quiet(algo, tmp_path / "pop", s, **x) for s, x in enumerate([*settings, {}])]
    results = fit_population(members)
    for seed, extra in enumerate(settings):
        lone = fit(quiet(algo, tmp_path / "lone", seed, **extra))
        assert_follows(rows(tmp_path / "pop" / f"s{seed}"), rows(lone.run_dir))
        saved = results[seed].algo.optimizers()
        for name, opt in lone.algo.optimizers().items():  # a member resumes at its own lr
            assert saved[name].param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    # the settings really change what is learned
    last = [rows(tmp_path / "pop" / f"s{s}")[-1]["policy/loss"] for s in range(3)]
    lone_default = fit(quiet(algo, tmp_path / "lone-default", 0))
    assert rows(lone_default.run_dir)[-1]["policy/loss"] != pytest.approx(last[0], rel=1e-3)


def test_a_member_resumes_as_a_lone_run(tmp_path: Path) -> None:
    """A member's checkpoint holds its own loss-noise stream: resumed alone, it goes on as
    the lone run with its seed; members' optimiser states are their own tensors."""
    members = [quiet("gmpo", tmp_path / "pop", s, **{"train.steps": 100}) for s in (0, 1)]
    results = fit_population(members)
    state = [r.algo.optimizers()["policy"].state_dict()["state"][0] for r in results]
    assert state[0]["step"] is not state[1]["step"]
    assert state[0]["exp_avg"].untyped_storage().data_ptr() != (
        state[1]["exp_avg"].untyped_storage().data_ptr()
    )
    longer = {"train.steps": 150}
    resumed = fit(quiet("gmpo", tmp_path / "pop", 1, **longer), resume=True)
    lone = fit(quiet("gmpo", tmp_path / "lone", 1, **longer))
    got, want = rows(resumed.run_dir)[-1], rows(lone.run_dir)[-1]
    assert got["step"] == want["step"] == 150
    for k in ("policy/loss", "critic/q_loss", "critic/v_loss"):
        assert got[k] == pytest.approx(want[k], rel=1e-3, abs=1e-5), k


def test_a_member_that_diverges_stops_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A non-finite loss stops its member (the error is its result) and not the others."""
    members = [quiet("iql", tmp_path, s) for s in (0, 1)]
    draw = Population.batch

    def poisoned(self: Population) -> Any:
        batch = draw(self)
        batch.rewards[0] = float("nan")  # member 0's rewards only
        return batch

    monkeypatch.setattr(Population, "batch", poisoned)
    results = fit_population(members)
    assert "non-finite loss" in results[0].summary["failed"]
    assert results[1].summary["steps"] == STEPS and not results[1].summary["interrupted"]


def test_clip_per_member_is_each_members_clip() -> None:
    gen = torch.Generator().manual_seed(0)
    scale = torch.tensor([0.1, 1.0, 10.0])  # member 0 under the bound, 1 and 2 over it
    params = [torch.zeros(3, 4, 5, requires_grad=True), torch.zeros(3, 7, requires_grad=True)]
    for p in params:
        p.grad = torch.randn(p.shape, generator=gen) * scale.view(-1, *([1] * (p.dim() - 1)))
    lone = [[torch.zeros_like(p[k]).requires_grad_() for p in params] for k in range(3)]
    for k, ps in enumerate(lone):
        for q, p in zip(ps, params, strict=True):
            q.grad = p.grad[k].clone()  # type: ignore[index]
    norms = clip_per_member(params, 2.0)
    for k, ps in enumerate(lone):
        want = torch.nn.utils.clip_grad_norm_(ps, 2.0)
        assert float(norms[k]) == pytest.approx(float(want), rel=1e-5)
        for q, p in zip(ps, params, strict=True):
            assert torch.allclose(p.grad[k], q.grad, rtol=1e-5)  # type: ignore[index, arg-type]
    assert float(norms[0]) < 2.0 < float(norms[1])


def test_bad_populations_are_refused(tmp_path: Path) -> None:
    a, b = quiet("gmpo", tmp_path, 0), quiet("gmpo", tmp_path, 1)
    with pytest.raises(GenpolicyError, match="at least one"):
        fit_population([])
    with pytest.raises(GenpolicyError, match="populations support"):
        fit_population([quiet("qgpo", tmp_path, 0)])
    with pytest.raises(GenpolicyError, match="algo.critic=iql"):
        fit_population([quiet("gtp", tmp_path, 0, **{"algo.critic": "td"})])
    with pytest.raises(GenpolicyError, match=r"differ in algo\.weight_clamp"):
        fit_population([a, quiet("gmpo", tmp_path, 1, **{"algo.weight_clamp": 3.0})])
    with pytest.raises(GenpolicyError, match=r"differ in train\.compile"):
        fit_population([a, quiet("gmpo", tmp_path, 1, **{"train.compile": "default"})])
    with pytest.raises(GenpolicyError, match="share a run folder"):
        fit_population([a, quiet("gmpo", tmp_path, 1, **{"train.run_name": "s0"})])
    assert pack_key(a) == pack_key(b) is not None
    assert pack_key(quiet("gmpo", tmp_path, 1, **{"algo.beta": 3.0, "algo.lr": 1e-3})) == pack_key(
        a
    )
    assert pack_key(quiet("gmpo", tmp_path, 1, **{"algo.weight_clamp": 3.0})) != pack_key(a)
    assert pack_key(quiet("qgpo", tmp_path, 0)) is None
    assert not list(tmp_path.iterdir())  # nothing was written


@pytest.mark.parametrize(
    "algo,settings",
    [
        ("bc", [{}, {}]),
        ("iql", [{"algo.grad_clip": 1.0}, {"algo.grad_clip": 1.0, "algo.beta": 1.0}]),
        ("gmpo", [{"algo.lr": 3e-4, "algo.critic_warmup": 2}, {"algo.critic_warmup": 2}]),
        ("gtp", [{"algo.eta": 0.5}, {"algo.eta": 4.0, "critic.lr": 1e-4}]),
    ],
)
def test_a_compiled_population_matches_the_eager_one(
    tmp_path: Path, algo: str, settings: list[dict[str, Any]]
) -> None:
    """``train.compile`` on a population compiles its whole update with no graph break
    (fullgraph) and computes what the eager population computes when its members draw their
    loss noise in turn from the global stream, as the compiled graph does (the aot_eager
    backend runs the traced graph with eager kernels, so the two agree to float rounding)."""
    cfgs = [quiet(algo, tmp_path, s, **x) for s, x in enumerate(settings)]
    members = []
    for c in cfgs:
        torch.manual_seed(c.train.seed)
        members.append(build_algorithm(c.algo, c.model, c.critic, 2, 2, "cpu"))
    pops = [population_of(cfgs[0], copy.deepcopy(members), [None, None]) for _ in (0, 1)]
    for p in pops:
        p.set_horizon(STEPS)
    torch._dynamo.reset()
    pops[1].compile_update(backend="aot_eager")  # fullgraph=True: a graph break raises
    data = tb.make_dataset(1000)
    gen = torch.Generator().manual_seed(1)
    batches = [stack_batches([data.sample(64, gen) for _ in cfgs]) for _ in range(5)]
    outs = []
    for p in pops:
        torch.manual_seed(5)
        outs.append([p.update(b) for b in batches])
    pairs = list(zip(pops[0].parameters(), pops[1].parameters(), strict=True))
    for e, c in zip(*outs, strict=True):
        assert e.keys() == c.keys()
        pairs += [(e[k], c[k]) for k in e]
    assert "policy/loss" in outs[1][-1]
    assert max(((x - y).abs() / (1 + x.abs())).max().item() for x, y in pairs) < 1e-3
    assert len(pops[1]._compiled) == (2 if algo == "gmpo" else 1)  # warm-up, then train
    first = next(pops[1].parameters())
    assert not torch.allclose(first[0], first[1])  # the members differ
