"""Training loop: exact resume, NaN stop with the last good checkpoint, run-dir safety, CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import assert_same, tiny

from genpolicy.errors import GenpolicyError
from genpolicy.rl.algos import GMPGConfig
from genpolicy.training.checkpoint import exists, load, load_algorithm
from genpolicy.training.config import RunConfig
from genpolicy.training.trainer import NonFiniteLoss, Trainer, fit


def state(algo: Any) -> dict[str, Any]:
    return algo.training_state()


@pytest.mark.parametrize("algo", ["gmpo", "gmpg", "iql", "qgpo"])
def test_interrupted_and_resumed_run_matches_uninterrupted(tmp_path: Path, algo: str) -> None:
    full = fit(tiny(algo, tmp_path / "a"))
    assert not full.interrupted and full.summary["steps"] == 12

    cfg = tiny(algo, tmp_path / "b")
    part = fit(cfg, on_step=lambda step, trainer: step == 5)  # as Ctrl-C at step 5
    assert part.interrupted and part.summary["steps"] == 5
    assert load(part.run_dir)["step"] == 5
    resumed = fit(cfg, resume=True)
    assert resumed.summary["steps"] == 12
    assert_same(state(full.algo), state(resumed.algo))
    # the same evaluations, and no duplicated metric rows after the resume point
    assert [e["step"] for e in resumed.evals] == [e["step"] for e in full.evals] == [4, 8, 12]
    rows = [json.loads(x) for x in (resumed.run_dir / "metrics.jsonl").read_text().splitlines()]
    train_steps = [r["step"] for r in rows if r["kind"] == "train"]
    assert train_steps == sorted(set(train_steps))


def test_a_run_resumes_across_a_memory_setting_and_not_across_a_result_setting(
    tmp_path: Path,
) -> None:
    """algo.grad_checkpoint changes no bit of an update (MEMORY_ONLY_ALGO_KEYS): a GMPG run
    interrupted in its policy-gradient phase resumes without it and ends where the
    uninterrupted run does; a setting that changes the result is refused."""
    full = fit(tiny("gmpg", tmp_path / "a", **{"algo.grad_checkpoint": True}))
    cfg = tiny("gmpg", tmp_path / "b", **{"algo.grad_checkpoint": True})
    fit(cfg, on_step=lambda step, trainer: step == 8)  # inside the phase (pretraining: 6)
    with pytest.raises(GenpolicyError, match=r"config differs from the saved one in algo\.beta"):
        fit(tiny("gmpg", tmp_path / "b", **{"algo.beta": 2.0}), resume=True)
    resumed = fit(tiny("gmpg", tmp_path / "b", **{"algo.grad_checkpoint": False}), resume=True)
    assert resumed.summary["steps"] == 12
    assert_same(state(full.algo), state(resumed.algo))


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path: Path) -> None:
    cfg = tiny("gmpo", tmp_path, **{"train.log_every": 1, "train.eval_every": 0})

    def poison(step: int, trainer: Trainer) -> None:
        if step == 7:
            with torch.no_grad():
                policy: Any = trainer.algo.policy
                for p in policy.parameters():
                    p.fill_(float("nan"))

    with pytest.raises(NonFiniteLoss, match="non-finite loss at step 8"):
        fit(cfg, on_step=poison)
    ckpt = load(tmp_path / cfg.run_name)
    assert ckpt["step"] == 6
    params = [v for k, v in ckpt["algo"]["modules"].items() if k.startswith("policy.")]
    assert params and all(bool(torch.isfinite(v).all()) for v in params)


def test_existing_run_dir_needs_resume_or_overwrite(tmp_path: Path) -> None:
    cfg = tiny("bc", tmp_path, **{"train.steps": 2, "train.eval_every": 0})
    fit(cfg)
    with pytest.raises(GenpolicyError, match="--overwrite"):
        fit(cfg)
    fit(cfg, overwrite=True)
    changed = tiny("bc", tmp_path, **{"train.steps": 4, "algo.lr": 1e-2})
    with pytest.raises(GenpolicyError, match="algo.lr"):
        fit(changed, resume=True)
    with pytest.raises(GenpolicyError, match="no such run folder; drop --resume"):
        fit(tiny("bc", tmp_path / "fresh"), resume=True)


def test_checkpoint_rebuilds_the_policy(tmp_path: Path) -> None:
    res = fit(tiny("gmpo", tmp_path, **{"algo.act.candidates": 3}))
    algo, cfg, ckpt = load_algorithm(res.run_dir / "checkpoints" / "last.json")
    obs = torch.rand(5, 2).numpy() * 2 - 1
    res.algo.seed_acting(1)
    algo.seed_acting(1)
    assert (algo.act(obs) == res.algo.act(obs)).all()
    assert algo.act(obs[0]).shape == (2,) and cfg.algo.act.candidates == 3
    assert ckpt["genpolicy_version"] and ckpt["normalizer"]["reward_convention"] == "none"
    assert exists(res.run_dir, "best")
    summary = json.loads((res.run_dir / "summary.json").read_text())
    assert summary["last"]["eval/score_mean"] is not None


def test_cli_train_and_evaluate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from genpolicy.cli import main

    args = ["train", "toy-bc", "--set", f"train.out_dir={tmp_path}", "--set", "train.steps=3"]
    args += ["--set", "train.progress=false", "--set", "algo.act.steps=2"]
    args += ["--set", "model.hidden=16", "--set", "train.eval_episodes=10"]
    assert main(args) == 0
    run = tmp_path / "bc-toy-bandit-s0"
    assert main(["evaluate", str(run), "--episodes", "7"]) == 0
    out = capsys.readouterr().out
    result = json.loads(out[out.index("{") :])
    assert result["episodes"] == 7 and result["step"] == 3
    assert main(args) == 2  # run dir exists, no --overwrite: a one-line error, exit code 2
    assert "exists" in capsys.readouterr().err
    assert main(["train", "default", "--set", "algo.beta=x"]) == 2


def test_init_from_starts_at_the_checkpoint_with_a_new_config(tmp_path: Path) -> None:
    """GMPG's policy-gradient phase from a pretrained run: same weights and step, new beta."""
    pre = fit(tiny("gmpg", tmp_path / "pre", **{"train.steps": 6, "train.eval_every": 0}))
    saved = load(pre.run_dir)
    assert saved["step"] == 6  # the end of pretraining (algo.pretrain_steps 6)
    cfg = tiny(
        "gmpg",
        tmp_path / "pg",
        **{"train.init_from": str(pre.run_dir), "algo.beta": 3.0, "train.eval_every": 0},
    )
    trainer = Trainer(cfg)
    assert trainer.step == 6 and trainer.algo.num_updates == 6
    assert_same(state(trainer.algo)["modules"], saved["algo"]["modules"])
    assert isinstance(trainer.algo.cfg, GMPGConfig)
    assert trainer.algo.cfg.beta == 3.0
    result = trainer.run()
    assert result.summary["steps"] == 12
    assert [e["step"] for e in result.evals] == [12]  # no evaluation of the loaded steps
    # the behaviour model stayed frozen; the policy moved
    after = state(result.algo)["modules"]
    key = next(k for k in after if k.startswith("behaviour."))
    assert torch.equal(after[key], saved["algo"]["modules"][key])
    pol = [k for k in after if k.startswith("policy.") and after[k].is_floating_point()]
    assert any(not torch.equal(after[k], saved["algo"]["modules"][k]) for k in pol)


def test_a_branch_from_checkpoint_at_carries_the_curve_with_init_history(tmp_path: Path) -> None:
    """checkpoint_at keeps 'step<N>' where 'last' moves on; a run started from it with
    init_history has the parent's evaluations up to N, then its own, and the parent's
    training seconds; without init_history it starts with none."""
    parent = fit(tiny("gmpg", tmp_path / "p", **{"train.checkpoint_at": [6]}))
    branch_point = tmp_path / "p" / parent.run_dir.name / "checkpoints" / "step6"
    saved = load(branch_point)
    assert saved["step"] == 6 and load(parent.run_dir)["step"] == 12
    over = {"train.init_from": str(branch_point), "algo.beta": 3.0}
    plain = fit(tiny("gmpg", tmp_path / "a", **over))
    assert [e["step"] for e in plain.evals] == [8, 12]
    branch = fit(tiny("gmpg", tmp_path / "b", **over, **{"train.init_history": True}))
    assert [e["step"] for e in branch.evals] == [4, 8, 12]
    assert branch.evals[0] == parent.evals[0]  # the shared part's evaluation, as it was
    logged = [json.loads(x) for x in (branch.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged if r["kind"] == "eval"] == [4, 8, 12]
    assert branch.summary["train_seconds"] > saved["progress"]["elapsed"] > 0
    assert branch.summary["best"]["step"] in (8, 12)  # best is the branch's own
    assert branch.summary["dataset_fingerprint"] == parent.summary["dataset_fingerprint"]


def test_gmpg_branch_that_ends_pretraining_at_the_branch_point_starts_pi_from_mu(
    tmp_path: Path,
) -> None:
    """A checkpoint from the middle of a longer pretraining (pretrain_steps 8, saved at 4),
    loaded with pretrain_steps 4: the update that would have copied mu to pi never runs in
    the branch, so the load does it; the first policy-gradient step starts from mu. A
    checkpoint saved after its own copy (pi trained away from mu since) loads as it is."""

    def gmpg(out: str, pretrain: int, **extra: Any) -> RunConfig:
        cfg = tiny("gmpg", tmp_path / out, **{"train.steps": 10, **extra})
        cfg.algo.pretrain_steps = pretrain
        return cfg

    parent = fit(gmpg("p", 8, **{"train.checkpoint_at": [4]}))
    point = parent.run_dir / "checkpoints" / "step4"
    assert not load(point)["algo"]["modules"]["_extra_state"]["policy_started"]
    algo: Any = Trainer(gmpg("b", 4, **{"train.init_from": str(point)})).algo
    assert not algo.pretraining and algo.policy_started
    mu, pi = algo.behaviour.state_dict(), algo.policy.state_dict()
    assert all(torch.equal(mu[k], pi[k]) for k in mu)
    assert not any(p.requires_grad for p in algo.behaviour.parameters())

    later: Any = Trainer(
        gmpg("c", 8, **{"train.init_from": str(parent.run_dir), "train.steps": 12})
    ).algo
    assert later.policy_started
    mu, pi = later.behaviour.state_dict(), later.policy.state_dict()
    assert any(not torch.equal(mu[k], pi[k]) for k in mu if mu[k].is_floating_point())


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"train.init_history": True}, "train.init_history .* train.init_from is empty"),
        ({"train.checkpoint_at": [0]}, r"train.checkpoint_at must list steps in 1..train"),
        ({"train.checkpoint_at": [13]}, r"1..train.steps=12, got \[13\]"),
    ],
)
def test_bad_branch_options_fail_with_one_line(
    extra: dict[str, Any], message: str, tmp_path: Path
) -> None:
    with pytest.raises(GenpolicyError, match=message):
        tiny("gmpo", tmp_path, **extra)


def test_init_from_refuses_what_does_not_fit(tmp_path: Path) -> None:
    pre = fit(tiny("gmpo", tmp_path / "pre", **{"train.steps": 6, "train.eval_every": 0}))
    src = str(pre.run_dir)
    with pytest.raises(GenpolicyError, match="'gmpo' checkpoint, this run trains 'iql'"):
        Trainer(tiny("iql", tmp_path / "a", **{"train.init_from": src}))
    with pytest.raises(GenpolicyError, match="at step 6, not before train.steps=6"):
        Trainer(tiny("gmpo", tmp_path / "b", **{"train.init_from": src, "train.steps": 6}))
    with pytest.raises(GenpolicyError, match="networks do not fit"):
        Trainer(tiny("gmpo", tmp_path / "c", **{"train.init_from": src, "model.hidden": 48}))
    trainer = Trainer(tiny("gmpo", tmp_path / "d", **{"train.steps": 8}))
    other = dict(trainer.dataset.normalizer_state(), reward_scale=2.5)  # another dataset's
    trainer.dataset.normalizer_state = lambda: other
    with pytest.raises(GenpolicyError, match="other observation or reward statistics"):
        trainer._init_from(src)
    with pytest.raises(GenpolicyError, match="^train.init_from=.*: no checkpoint at"):
        Trainer(tiny("gmpo", tmp_path / "e", **{"train.init_from": str(tmp_path / "nothing")}))


def test_resume_and_init_from_refuse_a_remade_dataset(tmp_path: Path) -> None:
    """Checkpoints record the dataset's fingerprint: resuming or branching on other
    transitions under the same name (a file remade since) fails with one line naming both
    fingerprints, even where the statistics the normaliser checks are unchanged."""
    from genpolicy.training.run_data import load_data

    cfg = tiny("gmpo", tmp_path / "a", **{"train.eval_every": 0})
    part = fit(cfg, on_step=lambda step, trainer: step == 5)
    saved = load(part.run_dir)["dataset_fingerprint"]
    assert saved == part.summary["dataset_fingerprint"]

    remade = load_data(cfg)
    remade.actions[0] += 0.01  # one action differs: same name, same observation statistics
    assert remade.fingerprint() != saved
    with pytest.raises(GenpolicyError, match=f"cannot resume .* fingerprint {saved}, .* has "):
        Trainer(cfg, dataset=remade, resume=True)
    over = {"train.init_from": str(part.run_dir), "train.eval_every": 0}
    with pytest.raises(GenpolicyError, match=f"^train.init_from=.* fingerprint {saved}"):
        Trainer(tiny("gmpo", tmp_path / "b", **over), dataset=remade)
    # the same transitions, loaded again, pass both ways
    assert Trainer(cfg, dataset=load_data(cfg), resume=True).step == 5
    assert Trainer(tiny("gmpo", tmp_path / "c", **over)).step == 5


def test_training_seconds_survive_a_kill(tmp_path: Path) -> None:
    """A run killed after a checkpoint (no final save) and resumed counts the training time
    up to that checkpoint in its summary's train_seconds."""
    import time

    class Killed(Exception):
        pass

    def slow_then_killed(step: int, trainer: Any) -> bool:
        if step == 2:
            time.sleep(0.5)  # before the checkpoint at step 3
        if step == 4:
            raise Killed  # after it: nothing more is saved
        return False

    cfg = tiny("gmpo", tmp_path, **{"train.eval_every": 0, "train.eval_episodes": 1})
    with pytest.raises(Killed):
        fit(cfg, on_step=slow_then_killed)
    assert load(tmp_path / cfg.run_name)["step"] == 3
    resumed = fit(cfg, resume=True)
    assert resumed.summary["train_seconds"] >= 0.5
