"""Progress of a run whose stderr is not a terminal: a line with step, steps/s and ETA every
train.log_interval_s seconds instead of a progress bar."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import tiny

from genpolicy.training.trainer import fit


def test_progress_lines_when_stderr_is_not_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    over = {"train.steps": 6, "train.eval_every": 0, "train.progress": True}
    fit(tiny("bc", tmp_path, **over, **{"train.log_interval_s": 1e-9}))
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if "steps/s, ETA" in x]
    assert len(lines) == 6 and "step 6/6 (100%)" in lines[-1], err
    assert "\r" not in err  # no bar: stderr is captured, not a terminal
    fit(tiny("bc", tmp_path / "quiet", **over, **{"train.log_interval_s": 0}))
    assert "ETA" not in capsys.readouterr().err
