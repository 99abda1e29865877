"""compact_json: the outer containers one member a line, the rest one line each, and the same
data back."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from genpolicy.experiments.jsonio import by_depth, compact_json, write_text_atomic


def test_compact_json_lays_out_two_levels_and_round_trips() -> None:
    doc = {"config": "x", "rows": [{"a": 1, "b": [1, 2]}, {"a": 2, "b": []}], "empty": {}}
    text = compact_json(doc)
    assert json.loads(text) == doc
    assert text.splitlines() == [
        "{",
        '  "config": "x",',
        '  "rows": [',
        '    {"a": 1, "b": [1, 2]},',
        '    {"a": 2, "b": []}',
        "  ],",
        '  "empty": {}',
        "}",
    ]
    assert compact_json(doc, by_depth(1)).count("\n") == 5  # one line per top-level key
    assert compact_json([1, 2]) == "[\n  1,\n  2\n]\n"


def test_an_atomic_write_leaves_the_old_file_whole_when_it_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "results.json"
    write_text_atomic(path, "old\n")
    write_text_atomic(path, "new\n")
    assert path.read_text() == "new\n"

    def broken(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError):
        write_text_atomic(path, "half\n")
    assert path.read_text() == "new\n" and sorted(p.name for p in tmp_path.iterdir()) == [
        "results.json"
    ]
