"""One writer per run folder: the lock beside it refuses a second process, is taken over
when its owner died, and is re-entrant within one process (a sweep trial around a run)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import ROOT, tiny

from genpolicy.cli import main
from genpolicy.training import lock
from genpolicy.training.trainer import fit

HOLD = """
import sys, time
from pathlib import Path
from genpolicy.training.lock import acquire
acquire(Path(sys.argv[1]))
print("held", flush=True)
time.sleep(120)
"""


def _holder(run_dir: Path) -> subprocess.Popen[str]:
    """A process that holds ``run_dir``'s lock until killed."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(run_dir)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def _one_line(err: str) -> str:
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_a_second_writer_is_refused_while_the_first_holds_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tiny("bc", tmp_path / "runs", **{"train.steps": 3, "train.eval_every": 0})
    fit(cfg)  # a finished run whose files must survive the refused writers
    run_dir = tmp_path / "runs" / cfg.run_name
    before = sorted(p.name for p in run_dir.rglob("*"))
    saved = tmp_path / "run.yaml"
    cfg.save(saved)
    capsys.readouterr()
    proc = _holder(run_dir)
    try:
        for extra in ([], ["--resume"], ["--overwrite"]):
            assert main(["train", str(saved), *extra]) == 2, extra
            line = _one_line(capsys.readouterr().err)
            assert f"pid {proc.pid}" in line and "another process" in line, line
            assert "wait for it to end or stop it" in line
        assert sorted(p.name for p in run_dir.rglob("*")) == before  # nothing deleted
    finally:
        proc.kill()
        proc.wait()
    # the holder died (kill -9 leaves its pid in the file): the lock is taken over
    assert main(["train", str(saved), "--overwrite"]) == 0
    err = capsys.readouterr().err
    assert f"left by pid {proc.pid}" in err and "taking over" in err
    assert lock.lock_path(run_dir).read_text() == ""  # released cleanly: no owner left


def test_the_lock_is_reentrant_within_a_process(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "r"
    with lock.run_lock(run_dir):
        with lock.run_lock(run_dir):  # a sweep trial's lock around the trainer's
            pass
        assert str(os.getpid()) in lock.lock_path(run_dir).read_text()  # still held
    assert lock.lock_path(run_dir).read_text() == ""


def test_a_stale_lock_file_is_taken_over_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tiny("bc", tmp_path / "runs", **{"train.steps": 2, "train.eval_every": 0})
    path = lock.lock_path(tmp_path / "runs" / cfg.run_name)
    path.parent.mkdir(parents=True)
    path.write_text("4242424 gone-host\n")  # an owner that died without releasing it
    time.sleep(0.01)
    assert fit(cfg).summary["steps"] == 2
    err = capsys.readouterr().err
    assert "pid 4242424 on host gone-host" in err and "taking over" in err
