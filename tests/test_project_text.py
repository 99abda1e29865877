"""The project speaks only of itself: README, docs, configs, sweep specs, code and tests say
what the library is and what was measured, never how or when it was made."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ("README.md", "CHANGELOG.md", "docs", "genpolicy", "tests", "scripts", "benchmarks")
# the words are spelled in pieces so that this file passes its own check (and a grep)
RULES = {
    "a diary word": re.compile(r"\bsess" r"ions?\b", re.IGNORECASE),
    "a tracker number": re.compile(r"\b[Ii]ss" r"ue \d+"),
    "a dated diary heading": re.compile(r"^#+ .*\(20\d\d-\d\d-\d\d"),
    "a path of the machine that made it": re.compile(r"(?<![\w.])/(work|farm)/"),
}


def _tracked_text_files() -> list[Path]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "--", *CHECKED], cwd=ROOT, capture_output=True, text=True
        )
    except OSError:
        pytest.skip("git is not available")
    if out.returncode != 0:
        pytest.skip("not a git checkout")
    suffixes = {".md", ".py", ".yaml", ".yml", ".sh", ".toml", ".txt", ".cff"}
    return [ROOT / f for f in out.stdout.splitlines() if Path(f).suffix in suffixes]


def test_no_words_about_how_the_project_was_made() -> None:
    hits = []
    for path in _tracked_text_files():
        if not path.is_file():
            continue
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            for what, rule in RULES.items():
                if rule.search(line):
                    hits.append(f"{path.relative_to(ROOT)}:{n}: {what}: {line.strip()[:80]}")
    assert not hits, "\n".join(hits)


@pytest.mark.parametrize(
    ("line", "what"),
    [
        ("the grid made in sess" + "ion 12", "a diary word"),
        ("see iss" + "ue 10's target", "a tracker number"),
        ("## Curves (2026-11-27, seed 2)", "a dated diary heading"),
        ("written to /wo" + "rk/main/runs", "a path of the machine that made it"),
    ],
)
def test_each_rule_catches_what_it_names(line: str, what: str) -> None:
    assert RULES[what].search(line)
