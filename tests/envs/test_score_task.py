"""The task that normalises scores comes from the environment id, not the dataset's file
name: in the trainer, in ``genpolicy evaluate`` and in ``genpolicy dataset info``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from genpolicy.cli import main
from genpolicy.data.writers import write_d4rl
from genpolicy.envs.evaluate import EvalResult, score_task
from genpolicy.training import checkpoint as ckpt_io
from genpolicy.training.config import create

pytest.importorskip("gymnasium")

TINY = {"model.hidden": 16, "model.depth": 1, "model.time_dim": 8, "critic.hidden": 16}


def hopper_arrays(n: int = 40, seed: int = 0) -> dict[str, np.ndarray]:
    """Hopper-v5 sizes (11 observations, 3 actions in [-1, 1]), episodes of 10 steps."""
    rng = np.random.default_rng(seed)
    tout = np.zeros(n, bool)
    tout[9::10] = True
    return {
        "observations": rng.normal(size=(n, 11)).astype(np.float32),
        "actions": rng.uniform(-1, 1, size=(n, 3)).astype(np.float32),
        "rewards": rng.normal(size=n).astype(np.float32) + 3.0,
        "terminals": np.zeros(n, bool),
        "timeouts": tout,
        "next_observations": rng.normal(size=(n, 11)).astype(np.float32),
    }


def fake_evaluate(seen: list[Any]) -> Any:
    def evaluate(act: Any, env_id: str, episodes: int, seed: int, task: Any) -> EvalResult:
        seen.append((env_id, task))
        return EvalResult(episodes, 1.0, 0.0, 50.0 if task else None, 0.0, 0.0)

    return evaluate


def test_score_task() -> None:
    assert score_task("Hopper-v5", "mydata") == "hopper"
    assert score_task("toy-bandit", "toy-bandit") == "toy-bandit"
    assert score_task("AntMaze_UMaze-v4", "elephant") == "antmaze"
    assert score_task(None, "elephant") is None


@pytest.mark.parametrize("stem", ["mydata", "elephant-walk"])
def test_trainer_scores_by_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stem: str
) -> None:
    from genpolicy.training.trainer import Trainer

    path = write_d4rl(tmp_path / f"{stem}.hdf5", hopper_arrays())
    over = {
        **TINY,
        "data.dataset": str(path),
        "data.env_id": "Hopper-v5",
        "train.out_dir": str(tmp_path / "runs"),
        "train.progress": False,
        "train.tensorboard": False,
    }
    seen: list[Any] = []
    monkeypatch.setattr("genpolicy.training.trainer.evaluate", fake_evaluate(seen))
    trainer = Trainer(create("toy-gmpo", over))
    trainer.evaluate(episodes=1)
    assert seen == [("Hopper-v5", "hopper")]


def test_cli_evaluate_scores_by_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from genpolicy.training.trainer import fit

    over = {**TINY, "algo.act.steps": 2, "train.steps": 2, "train.eval_every": 0}
    over.update({"train.eval_episodes": 5, "train.progress": False, "train.tensorboard": False})
    res = fit(create("toy-bc", {**over, "train.out_dir": str(tmp_path)}))
    ckpt = ckpt_io.load(res.run_dir)
    ckpt.update(env_id="Walker2d-v5", dataset="mydata")  # as if trained on mydata.hdf5
    path = ckpt_io.save(tmp_path / "walker" / "last", ckpt)
    seen: list[Any] = []
    monkeypatch.setattr("genpolicy.training.policy.evaluate", fake_evaluate(seen))
    capsys.readouterr()
    assert main(["evaluate", str(path), "--episodes", "1"]) == 0
    assert seen == [("Walker2d-v5", "walker2d")]
    out = capsys.readouterr().out
    assert json.loads(out[out.index("{") :])["task"] == "walker2d"


def test_dataset_info_scores_by_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def info(path: Path) -> dict[str, Any]:
        capsys.readouterr()
        assert main(["dataset", "info", str(path), "--json"]) == 0
        return dict(json.loads(capsys.readouterr().out))

    arrays = hopper_arrays()
    mine = write_d4rl(tmp_path / "mydata.hdf5", arrays, {"env_id": "Hopper-v5"})
    assert info(mine)["task"] == "hopper"
    eleph = write_d4rl(tmp_path / "elephant.hdf5", arrays)  # no env, a name with "ant" in it
    got = info(eleph)
    assert got["env_id"] is None and "task" not in got and "score_mean" not in got
    rng = np.random.default_rng(0)  # an AntMaze-shaped file: 29 observations, 8 actions
    n = len(arrays["rewards"])
    ant = {**arrays, "observations": rng.normal(size=(n, 29)).astype(np.float32)}
    ant["next_observations"] = rng.normal(size=(n, 29)).astype(np.float32)
    ant["actions"] = rng.uniform(-1, 1, size=(n, 8)).astype(np.float32)
    maze = write_d4rl(tmp_path / "antmaze-umaze-v2.hdf5", ant)
    got = info(maze)  # scored as AntMaze (its environment), never as Ant
    assert got["task"] == "antmaze" and got["env_id"] == "genpolicy/antmaze-umaze-v2"
