"""Reading ``metrics.jsonl``: one parser for the logger's resume, the sweep's status, the
saved speed and the report, tolerant of a line cut short by a kill."""

from __future__ import annotations

from pathlib import Path

import pytest

from genpolicy.experiments.local import last_step
from genpolicy.training.logger import MetricsLogger, parse_row, read_rows
from genpolicy.training.run_dir import saved_speed


@pytest.mark.parametrize(
    "line",
    ['{"step": 3, "kind": "tr', "[1, 2]", '"step"', "7", '{"kind": "train"}', '{"step": "x"}', ""],
)
def test_a_line_that_is_no_row_parses_to_none(line: str) -> None:
    assert parse_row(line) is None


def test_a_row_keeps_its_keys_and_gets_an_integer_step() -> None:
    assert parse_row('{"step": 4.0, "kind": "eval", "eval/score": 1.5}') == {
        "step": 4,
        "kind": "eval",
        "eval/score": 1.5,
    }


def _log(tmp_path: Path) -> Path:
    path = tmp_path / "metrics.jsonl"
    path.write_text(
        '{"step": 1, "kind": "train", "steps_per_s": 10.0}\n'
        "\n"
        '{"step": 2, "kind": "eval", "eval/score": 3.0}\n'
        "[]\n"
        '{"step": 3, "kind": "train", "steps_per_s": 12.0}\n'
        '{"step": 4, "kind": "tra'
    )
    return path


def test_read_rows_returns_the_rows_and_the_numbers_of_the_lines_that_are_none(
    tmp_path: Path,
) -> None:
    rows, bad = read_rows(_log(tmp_path))
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert bad == [4, 6]  # the blank line 2 is neither


def test_read_rows_raises_oserror_for_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        read_rows(tmp_path / "metrics.jsonl")


def test_the_speed_and_the_last_step_skip_a_cut_last_line(tmp_path: Path) -> None:
    _log(tmp_path)
    assert saved_speed(tmp_path) == 12.0
    assert last_step(tmp_path) == 3
    assert saved_speed(tmp_path / "none") == 0.0 and last_step(tmp_path / "none") == 0


def test_a_resumed_logger_keeps_the_rows_up_to_the_checkpoint_and_drops_the_rest(
    tmp_path: Path,
) -> None:
    _log(tmp_path)
    logger = MetricsLogger(tmp_path, tensorboard=False, resume_step=2)
    assert [r["step"] for r in logger.rows] == [1, 2]
    rows, bad = read_rows(tmp_path / "metrics.jsonl")  # the file is rewritten clean
    assert [r["step"] for r in rows] == [1, 2] and bad == []
    logger.close()
