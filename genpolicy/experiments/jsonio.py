"""Result files as short, diff-friendly JSON: the outer containers one member a line, every
deeper value (a row, a run, a group) on one line of its own; written in one step."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

Expanded = Callable[[tuple[str, ...]], bool]  # which containers (by key path) get a line each


def by_depth(depth: int) -> Expanded:
    """Expand the containers at key-path lengths below ``depth`` (2: the top level and its
    members' members, e.g. a list of rows under a top-level key, one row a line)."""
    return lambda path: len(path) < depth


TWO_LEVELS = by_depth(2)


def compact_json(obj: Any, expanded: Expanded = TWO_LEVELS) -> str:
    """``obj`` as JSON text (ending in a newline) with the containers that ``expanded``
    names laid out one member a line and everything else on one line."""

    def dump(o: Any, path: tuple[str, ...], indent: str) -> str:
        if not isinstance(o, (dict, list)) or not o or not expanded(path):
            return json.dumps(o, default=str)
        inner = indent + "  "
        if isinstance(o, dict):
            items = [
                f"{inner}{json.dumps(str(k))}: {dump(v, (*path, str(k)), inner)}"
                for k, v in o.items()
            ]
            return "{\n" + ",\n".join(items) + f"\n{indent}}}"
        items = [f"{inner}{dump(v, (*path, str(i)), inner)}" for i, v in enumerate(o)]
        return "[\n" + ",\n".join(items) + f"\n{indent}]"

    return dump(obj, (), "") + "\n"


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder, replaced in one
    step: a reader (or a second writer) sees the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
