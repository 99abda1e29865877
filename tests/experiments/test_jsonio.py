"""compact_json: the outer containers one member a line, the rest one line each, and the same
data back."""

from __future__ import annotations

import json

from genpolicy.experiments.jsonio import by_depth, compact_json


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
