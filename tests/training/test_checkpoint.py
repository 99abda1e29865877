"""Checkpoint files: safetensors + JSON layout, atomic writes, versions,
corrupt files, and the places that look for a checkpoint (resume, sweeps)."""

from __future__ import annotations

import json
import os
import random
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers import assert_same

import genpolicy
from genpolicy.errors import GenpolicyError
from genpolicy.experiments.trial import trial_state
from genpolicy.training import checkpoint as ckpt_io
from genpolicy.training.config import RunConfig, create
from genpolicy.training.trainer import fit

TINY = {"model.hidden": 32, "model.depth": 1, "model.time_dim": 8, "critic.hidden": 32}


def tiny(out: Path, **extra: Any) -> RunConfig:
    over: dict[str, Any] = {
        **TINY,
        "algo.batch_size": 64,
        "algo.act.steps": 2,
        "train.steps": 8,
        "train.log_every": 2,
        "train.eval_every": 4,
        "train.eval_episodes": 10,
        "train.checkpoint_every": 3,
        "train.progress": False,
        "train.tensorboard": False,
        "train.out_dir": str(out),
        **extra,
    }
    return create("toy-gmpo", over)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny run (its checkpoints are read, never changed)."""
    return fit(tiny(tmp_path_factory.mktemp("run"))).run_dir


# -- layout -----------------------------------------------------------------------------------
def test_layout_is_safetensors_plus_json(run: Path) -> None:
    ckdir = run / "checkpoints"
    names = sorted(p.name for p in ckdir.iterdir())
    assert names == ["best.json", "best.safetensors", "last.json", "last.safetensors"]
    doc = json.loads((ckdir / "last.json").read_text())
    assert doc["format"] == ckpt_io.FORMAT and doc["genpolicy_version"] == genpolicy.__version__
    assert doc["tensors"] == "last.safetensors"
    state = doc["state"]
    assert state["step"] == 8 and state["config"]["train"]["steps"] == 8
    assert state["normalizer"]["reward_convention"] == "none"
    assert state["progress"]["evals"][0]["step"] == 4
    # optimiser param groups (lrs, betas) live in the JSON, their moments in safetensors
    policy_opt = state["algo"]["optimizers"]["policy"]
    assert isinstance(policy_opt["param_groups"][0]["lr"], float)
    from safetensors import safe_open

    with safe_open(str(ckdir / "last.safetensors"), framework="pt") as f:
        keys = set(f.keys())
        assert f.metadata()["checkpoint_id"] == doc["checkpoint_id"]
    assert any(k.startswith("algo/modules/policy.") for k in keys)
    assert any(k.startswith("algo/optimizers/policy/state/") for k in keys)
    assert {"rng/torch", "rng/batch"} <= keys


def test_load_accepts_every_way_of_naming_a_checkpoint(run: Path) -> None:
    ckdir = run / "checkpoints"
    ref = ckpt_io.load(run)
    assert ref["step"] == 8 and ref["format"] == ckpt_io.FORMAT
    for path in (ckdir, ckdir / "last", ckdir / "last.json", ckdir / "last.safetensors"):
        assert_same(ckpt_io.load(path), ref, str(path))
    best = ckpt_io.load(str(ckdir / "best.json"))
    assert best["step"] in (4, 8)
    with pytest.raises(GenpolicyError, match="no checkpoint at"):
        ckpt_io.load(ckdir / "nothing")


def test_exists(run: Path, tmp_path: Path) -> None:
    assert ckpt_io.exists(run) and ckpt_io.exists(run, "best")
    assert ckpt_io.exists(run / "checkpoints") and ckpt_io.exists(run / "checkpoints", "best")
    assert not ckpt_io.exists(run, "other") and not ckpt_io.exists(tmp_path)
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.safetensors").write_bytes(b"half a pair")
    assert not ckpt_io.exists(tmp_path)  # tensors without their JSON: not a checkpoint


def test_round_trip_is_exact_for_tuples_int_keys_and_shared_tensors(tmp_path: Path) -> None:
    base = torch.arange(12.0).reshape(3, 4)
    sd: Any = OrderedDict(w=base, row=base[1], col=base[:, 2])  # views of one storage
    sd._metadata = OrderedDict({"": {"version": 1}})
    payload = {
        "sd": sd,
        "opt": {
            "state": {0: {"step": torch.tensor(3.0)}},
            "param_groups": [{"betas": (0.9, 0.99)}],
        },
        "mixed": [1, 2.5, None, True, "x", float("inf"), {"__tensor__": "not a tag"}],
        "empty": torch.zeros(0, 3),
        "ints": torch.arange(5, dtype=torch.int64),
        "bytes": torch.get_rng_state(),
    }
    ckpt_io.save(tmp_path / "c", payload)
    back = ckpt_io.load(tmp_path / "c.json")
    assert_same({k: back[k] for k in payload}, payload)
    assert back["opt"]["param_groups"][0]["betas"] == (0.9, 0.99)
    assert list(back["opt"]["state"]) == [0]
    assert back["sd"]._metadata == {"": {"version": 1}}
    assert back["ints"].dtype == torch.int64 and back["bytes"].dtype == torch.uint8


def test_rng_states_round_trip_exactly(tmp_path: Path) -> None:
    gen = torch.Generator().manual_seed(7)
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    np.random.normal()  # leaves a cached Gaussian in numpy's state
    ckpt_io.save(tmp_path / "r", {"rng": ckpt_io.rng_state(gen)})

    def draw() -> list[Any]:
        return [
            random.random(),
            np.random.normal(),
            np.random.rand(3).tolist(),
            torch.rand(3).tolist(),
            torch.randint(0, 100, (4,), generator=gen).tolist(),
        ]

    expected = draw()
    draw()
    ckpt_io.set_rng_state(ckpt_io.load(tmp_path / "r")["rng"], gen)
    assert draw() == expected


def test_a_batch_sampler_state_from_another_device_reseeds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A run checkpointed on a GPU resumes on the CPU: CUDA's Philox generator state (16
    bytes) cannot load into a CPU generator, so the sampler is reseeded from it, the same
    way every time, and says so."""
    state = ckpt_io.rng_state(torch.Generator().manual_seed(0))
    state["batch"] = torch.arange(16, dtype=torch.uint8)  # the size of a CUDA generator's
    draws = []
    for _ in range(2):
        gen = torch.Generator().manual_seed(123)
        ckpt_io.set_rng_state(state, gen)
        draws.append(torch.randint(0, 10**6, (4,), generator=gen).tolist())
    assert draws[0] == draws[1]
    assert (
        draws[0]
        != torch.randint(0, 10**6, (4,), generator=torch.Generator().manual_seed(123)).tolist()
    )
    assert "another kind of device" in capsys.readouterr().err


# -- atomic writes ------------------------------------------------------------------------------
def _crash_at_replace(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    """Make the n-th os.replace (1: the tensors, 2: the JSON) raise, as a kill would."""
    real = os.replace
    calls = {"n": 0}

    def replace(src: Any, dst: Any) -> None:
        calls["n"] += 1
        if calls["n"] == n:
            raise KeyboardInterrupt("killed")
        real(src, dst)

    monkeypatch.setattr(ckpt_io.os, "replace", replace)


@pytest.mark.parametrize("crash_at", [1, 2])
def test_a_save_killed_midway_leaves_one_complete_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crash_at: int
) -> None:
    path = tmp_path / "checkpoints" / "last"
    ckpt_io.save(path, {"step": 1, "w": torch.ones(3)})
    with monkeypatch.context() as m:
        _crash_at_replace(m, crash_at)
        with pytest.raises(KeyboardInterrupt):
            ckpt_io.save(path, {"step": 2, "w": torch.full((3,), 2.0)})
    got = ckpt_io.load(tmp_path)
    # killed before the tensors were renamed: the old pair; after: the new one, whole
    step = 1 if crash_at == 1 else 2
    assert got["step"] == step and torch.equal(got["w"], torch.full((3,), float(step)))


def test_mismatched_pair_without_its_json_is_refused(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    ckpt_io.save(a, {"step": 1, "w": torch.ones(2)})
    ckpt_io.save(b, {"step": 2, "w": torch.zeros(2)})
    os.replace(tmp_path / "b.safetensors", tmp_path / "a.safetensors")
    with pytest.raises(GenpolicyError, match="another save"):
        ckpt_io.load(a)
    (tmp_path / "a.json").unlink()
    with pytest.raises(GenpolicyError, match="incomplete checkpoint"):
        ckpt_io.load(tmp_path / "a.safetensors")


# -- versions ------------------------------------------------------------------------------------
def _bump(version: str, part: int) -> str:
    nums = [int(x) for x in version.split(".")[:3]]
    nums[part] += 1
    nums[part + 1 :] = [0] * (2 - part)
    return ".".join(map(str, nums))


def _with_version(src: Path, dst: Path, version: str) -> Path:
    dst.mkdir()
    for suffix in (".json", ".safetensors"):
        data = (src / "checkpoints" / f"last{suffix}").read_bytes()
        (dst / f"last{suffix}").write_bytes(data)
    doc = json.loads((dst / "last.json").read_text())
    doc["genpolicy_version"] = version
    (dst / "last.json").write_text(json.dumps(doc))
    return dst


@pytest.mark.parametrize("part", [0, 1])
def test_a_checkpoint_from_a_newer_library_is_refused(run: Path, tmp_path: Path, part: int) -> None:
    ours = genpolicy.__version__
    newer = _bump(ours, part)
    ckdir = _with_version(run, tmp_path / "new", newer)
    with pytest.raises(GenpolicyError) as err:
        ckpt_io.load(ckdir)
    msg = str(err.value)
    assert newer in msg and ours in msg and "upgrade genpolicy" in msg and "\n" not in msg


def test_older_and_patch_newer_checkpoints_load(run: Path, tmp_path: Path) -> None:
    assert ckpt_io.load(_with_version(run, tmp_path / "old", "0.0.1"))["step"] == 8
    patch = _bump(genpolicy.__version__, 2)
    assert ckpt_io.load(_with_version(run, tmp_path / "patch", patch))["step"] == 8


def test_trial_state_finds_the_new_checkpoint(tmp_path: Path) -> None:
    cfg = tiny(tmp_path, **{"train.eval_every": 0})
    assert trial_state(cfg) == "new"
    fit(cfg, on_step=lambda step, trainer: step == 3)
    assert ckpt_io.exists(tmp_path / cfg.run_name)
    assert trial_state(cfg) == "resume"


# -- unreadable files ---------------------------------------------------------------------------
def _assert_unreadable(path: Path) -> None:
    with pytest.raises(GenpolicyError) as err:
        ckpt_io.load(path)
    msg = str(err.value)
    assert "not a readable genpolicy checkpoint" in msg and "truncated" in msg, msg
    assert "weights_only" not in msg and "torch.load" not in msg and "\n" not in msg, msg


def test_corrupt_checkpoints_get_one_line_without_torch_advice(run: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    noise = tmp_path / "noise.json"
    noise.write_bytes(rng.bytes(4096))
    _assert_unreadable(noise)

    for suffix in (".safetensors", ".json"):  # the new format, either file cut short
        d = tmp_path / f"cut{suffix}"
        d.mkdir()
        for s in (".json", ".safetensors"):
            data = (run / "checkpoints" / f"last{s}").read_bytes()
            (d / f"last{s}").write_bytes(data[: len(data) // 2] if s == suffix else data)
        _assert_unreadable(d)


def test_cli_reports_a_corrupt_checkpoint_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from genpolicy.cli import main

    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\x80\x02not a pickle at all" * 10)
    assert main(["evaluate", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a readable genpolicy checkpoint" in err and "weights_only" not in err
    assert len(err.splitlines()) == 1
