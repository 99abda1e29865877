"""Faults a user causes: a toy run killed with SIGTERM, SIGINT and SIGKILL at random points
(checkpoint writes included) and resumed each time ends as the uninterrupted run does, and
of two writers started together on one run folder exactly one runs."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import ROOT, tiny

from genpolicy.training.checkpoint import exists
from genpolicy.training.trainer import fit

# the command line, slowed down so that signals land inside steps and checkpoint writes:
# every logged row and every rename of a checkpoint file takes a little longer; the
# marker file says the training loop has started
CHILD = """
import os, sys, time
from pathlib import Path
from genpolicy.training import logger, trainer
marker = Path(sys.argv[1])
real_replace, real_log, real_run = os.replace, logger.MetricsLogger.log, trainer.Trainer._run
def slow_replace(a, b):
    time.sleep(0.02)
    real_replace(a, b)
def slow_log(self, row):
    time.sleep(0.005)
    real_log(self, row)
def run(self, on_step):
    marker.write_text("")
    return real_run(self, on_step)
os.replace, logger.MetricsLogger.log, trainer.Trainer._run = slow_replace, slow_log, run
from genpolicy.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _config(tmp_path: Path, steps: int) -> tuple[Any, Path]:
    over = {"train.steps": steps, "train.log_every": 1, "train.eval_every": steps // 4}
    over.update({"train.checkpoint_every": 10, "train.threads": 1})
    cfg = tiny("bc", tmp_path / "runs", **over)
    path = tmp_path / "run.yaml"
    cfg.save(path)
    return cfg, path


def _start(marker: Path, args: list[str]) -> subprocess.Popen[str]:
    marker.unlink(missing_ok=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(marker), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _wait_for(marker: Path, proc: subprocess.Popen[str], timeout: float = 120) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if marker.exists():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.01)
    raise AssertionError("the training loop did not start")


def _rows(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(x) for x in lines if x.strip()]


def _scores(evals: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Evaluation rows without their wall-clock seconds."""
    return [{k: v for k, v in e.items() if not k.endswith("seconds")} for e in evals]


@pytest.mark.slow
def test_runs_killed_at_random_points_end_as_an_uninterrupted_run(tmp_path: Path) -> None:
    cfg, path = _config(tmp_path, steps=400)
    reference = fit(tiny("bc", tmp_path / "ref", **{**_overrides(cfg)}))
    run_dir = tmp_path / "runs" / cfg.run_name
    marker = tmp_path / "started"
    rng = random.Random(0)
    kinds = [signal.SIGTERM, signal.SIGINT, signal.SIGKILL]
    kills = 0
    while True:
        if exists(run_dir, "last"):
            args = ["train", str(run_dir / "config.yaml"), "--resume"]
        else:
            args = ["train", str(path), "--overwrite"]
        proc = _start(marker, args)
        if kills == 10 or not _wait_for(marker, proc):
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
            break
        time.sleep(rng.uniform(0.05, 0.3))
        sig = kinds[kills % 3]
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=300)
        if proc.returncode == 0:  # it had finished before the signal came
            break
        kills += 1
        assert proc.returncode in (-signal.SIGKILL, 130, 143), err
        if proc.returncode in (130, 143) and "checkpoint saved" in err:
            assert f"genpolicy train {run_dir / 'config.yaml'} --resume" in err
    assert kills >= 5  # most signals landed inside the run
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 400 and not summary["interrupted"]
    rows = _rows(run_dir)
    keys = [(r["kind"], r["step"]) for r in rows]
    assert len(keys) == len(set(keys))  # no duplicate rows
    evals = [r for r in rows if r["kind"] == "eval"]
    assert _scores([{k: v for k, v in e.items() if k != "kind"} for e in evals]) == _scores(
        reference.evals
    )
    assert _scores([summary["last"]]) == _scores([reference.summary["last"]])


def _overrides(cfg: Any) -> dict[str, Any]:
    t = cfg.train
    return {
        "train.steps": t.steps,
        "train.log_every": t.log_every,
        "train.eval_every": t.eval_every,
        "train.checkpoint_every": t.checkpoint_every,
        "train.threads": t.threads,
    }


@pytest.mark.slow
def test_of_two_writers_started_together_exactly_one_runs(tmp_path: Path) -> None:
    cfg, path = _config(tmp_path, steps=200)
    procs = [_start(tmp_path / f"started{i}", ["train", str(path)]) for i in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 2], results
    refused = results[[p.returncode for p in procs].index(2)][1]
    lines = [x for x in refused.splitlines() if x.strip()]
    assert len(lines) == 1 and "another process" in lines[0], refused
    rows = _rows(tmp_path / "runs" / cfg.run_name)
    keys = [(r["kind"], r["step"]) for r in rows]
    assert len(keys) == len(set(keys))


@pytest.mark.slow
def test_sigterm_checkpoints_and_the_hint_resumes_this_run(tmp_path: Path) -> None:
    cfg, path = _config(tmp_path, steps=400)
    override = ["--set", "train.seed=7"]  # kept by the hint: it names the saved config
    run_dir = tmp_path / "runs" / cfg.run_name.replace("-s0", "-s7")
    marker = tmp_path / "started"
    proc = _start(marker, ["train", str(path), *override])
    assert _wait_for(marker, proc)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 143, err
    hint = f"genpolicy train {run_dir / 'config.yaml'} --resume"
    assert hint in err and "SIGTERM" in err
    step = json.loads((run_dir / "summary.json").read_text())["steps"]
    assert 0 < step < 400 and exists(run_dir, "last")
    proc = _start(marker, hint.split()[1:])
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 400 and summary["seed"] == 7
