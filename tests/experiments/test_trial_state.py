"""Whether a sweep counts a finished run folder as its trial's: a memory setting does not
make it another trial, a setting that changes the result does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import tiny

from genpolicy.errors import GenpolicyError
from genpolicy.experiments.trial import run_dir_of, trial_state


def test_a_finished_run_stays_done_across_a_memory_setting(tmp_path: Path) -> None:
    saved = tiny("gmpg", tmp_path, **{"algo.grad_checkpoint": True})
    run_dir = run_dir_of(saved)
    run_dir.mkdir(parents=True)
    saved.save(run_dir / "config.yaml")
    (run_dir / "summary.json").write_text(json.dumps({"steps": saved.train.steps}))
    assert trial_state(saved) == "done"
    assert trial_state(tiny("gmpg", tmp_path, **{"algo.grad_checkpoint": False})) == "done"
    with pytest.raises(GenpolicyError, match=r"different config \(algo\.beta\)"):
        trial_state(tiny("gmpg", tmp_path, **{"algo.beta": 2.0}))
