"""benchmarks/parity/summarise.py: a parity benchmark's summary from the peer's JSON lines and
genpolicy's run folders."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import script

from genpolicy.cli.tables import add_parser
from genpolicy.experiments.report import tables

summ = script("benchmarks/parity/summarise.py")

SPEC: dict[str, Any] = {
    "name": "parity-x",
    "question": "Q?",
    "dataset": "d-v5",
    "budget": "20k updates",
    "every": 10000,
    "peer": {
        "side": "peer",
        "source": "peer 1.0",
        "match": {"algo": "bc", "dataset": "d-v5"},
        "command": "peer run",
    },
    "sides": {"ours": {"runs": "bc-s*", "command": "genpolicy train bc"}},
}


def _peer_line(seed: int, step: int, score: float, algo: str = "bc", rate: float = 100.0) -> str:
    return json.dumps(
        {
            "algo": algo,
            "dataset": "d-v5",
            "seed": seed,
            "step": step,
            "score_mean": score,
            "score_std": 1.0,
            "updates_per_s": rate,
        }
    )


def _run(root: Path, seed: int, scores: dict[int, float], rate: float | None) -> None:
    """A run folder whose updates (20k when finished) ran at ``rate`` per second, with 4 s
    per evaluation during training and 50 s for the final one."""
    run = root / f"bc-s{seed}"
    run.mkdir(parents=True)
    lines = [json.dumps({"kind": "train", "step": 1000, "loss": 0.5})]
    lines += [
        json.dumps(
            {
                "kind": "eval",
                "step": s,
                "eval/score_mean": v,
                "eval/score_std": 2.0,
                "eval/seconds": 50.0 if s == 20000 else 4.0,
            }
        )
        for s, v in scores.items()
    ]
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n{cut short")
    cfg = {"algo": {"name": "bc"}, "data": {"dataset": "d-v5"}, "train": {"seed": seed}}
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    if rate is not None:  # finished; the whole run's rate (steps_per_s) is not the one used
        seconds = 20000 / rate + 4.0 * sum(s < 20000 for s in scores)
        summary = {"seed": seed, "steps": 20000, "steps_per_s": 1.0, "train_seconds": seconds}
        (run / "summary.json").write_text(json.dumps(summary))


@pytest.fixture
def bench(tmp_path: Path) -> dict[str, Path]:
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    log = tmp_path / "peer.jsonl"
    log.write_text(
        "\n".join(
            [
                _peer_line(0, 10000, 10.0),
                _peer_line(0, 15000, 99.0),  # not a multiple of every: left out
                _peer_line(0, 20000, 20.0, rate=80.0),  # seed 0's last line: its rate
                _peer_line(1, 10000, 14.0),
                _peer_line(1, 20000, 30.0, rate=120.0),
                _peer_line(0, 20000, 77.0, algo="iql"),  # another benchmark's line
            ]
        )
        + "\n"
    )
    runs = tmp_path / "runs"
    _run(runs, 0, {5000: 1.0, 10000: 11.0, 20000: 23.0}, rate=200.0)
    _run(runs, 1, {10000: 13.0, 20000: 37.0}, rate=300.0)
    _run(runs, 2, {10000: 12.0}, rate=None)  # still training: no summary, no rate
    return {"spec": spec, "log": log, "runs": runs, "out": tmp_path / "out"}


def test_summary_pairs_sides_by_seed_and_renders(bench: dict[str, Path]) -> None:
    argv = ["--peer-log", str(bench["log"]), "--runs", str(bench["runs"])]
    assert summ.main([str(bench["spec"]), *argv, "--out", str(bench["out"])]) == 0
    result = json.loads((bench["out"] / "parity.json").read_text())
    got = {(r["side"], r["seed"], r["updates"]): r["score_mean"] for r in result["rows"]}
    assert got == {
        ("peer", 0, 10000): 10.0,
        ("peer", 0, 20000): 20.0,
        ("peer", 1, 10000): 14.0,
        ("peer", 1, 20000): 30.0,
        ("ours", 0, 10000): 11.0,
        ("ours", 0, 20000): 23.0,
        ("ours", 1, 10000): 13.0,
        ("ours", 1, 20000): 37.0,
        ("ours", 2, 10000): 12.0,
    }
    assert result["updates_per_s"] == {"peer": 100.0, "ours": 250.0}
    assert result["seeds"] == {"peer": [0, 1], "ours": [0, 1, 2]}
    assert result["commands"] == {"peer": "peer run", "ours": "genpolicy train bc"}
    kept = (bench["out"] / "peer-peer.jsonl").read_text().splitlines()
    assert len(kept) == 5 and all('"bc"' in line for line in kept)
    assert (bench["out"] / "parity.png").read_bytes()[:4] == b"\x89PNG"
    p = argparse.ArgumentParser()
    add_parser(p.add_subparsers())
    text = tables.table_text(p.parse_args(["tables", str(bench["out"] / "parity.json")]))
    # differences at 20k: 3 and 7, mean 5, standard error 2.0; averaged over both columns:
    # seed 0 (1 + 3) / 2 = 2, seed 1 (-1 + 7) / 2 = 3 (seed 2 lacks 20k)
    assert (
        "| ours | 12.0 ± 1.0 (3) | 30.0 ± 9.9 (2) | +5.0 ± 2.0 (2) | +2.5 ± 0.5 (2) | 250 |" in text
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.pop("budget"), "missing budget"),
        (lambda s: s.update(every=0), "every must be a positive number"),
        (lambda s: s["peer"].pop("match"), "peer needs side, source, match and command"),
        (lambda s: s["sides"]["ours"].pop("runs"), "side 'ours' needs runs"),
        (lambda s: s["peer"]["match"].update(algo="fql"), "no line matches"),
        (lambda s: s["sides"]["ours"].update(runs="iql-*"), "no run folder matches 'iql-\\*'"),
    ],
)
def test_bad_specs_fail_in_one_line(
    bench: dict[str, Path], capsys: pytest.CaptureFixture[str], change: Any, message: str
) -> None:
    spec = yaml.safe_load(bench["spec"].read_text())
    change(spec)
    bench["spec"].write_text(yaml.safe_dump(spec))
    argv = ["--peer-log", str(bench["log"]), "--runs", str(bench["runs"])]
    assert summ.main([str(bench["spec"]), *argv, "--out", str(bench["out"])]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert re.search(message, err)
    assert not (bench["out"] / "parity.json").exists()


def test_a_peer_line_without_a_score_fails_in_one_line(
    bench: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    with bench["log"].open("a") as f:
        f.write(json.dumps({"algo": "bc", "dataset": "d-v5", "seed": 2, "step": 10000}) + "\n")
    argv = ["--peer-log", str(bench["log"]), "--runs", str(bench["runs"])]
    assert summ.main([str(bench["spec"]), *argv, "--out", str(bench["out"])]) == 2
    assert "peer.jsonl:7: a matching line without score_mean" in capsys.readouterr().err


def test_missing_files_fail_in_one_line(
    bench: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = ["--runs", str(bench["runs"]), "--out", str(bench["out"])]
    missing_log = ["--peer-log", str(bench["log"].with_name("none.jsonl"))]
    assert summ.main([str(bench["spec"]), *missing_log, *out]) == 2
    assert "no such peer log" in capsys.readouterr().err
    missing_spec = str(bench["spec"].with_name("none.yaml"))
    assert summ.main([missing_spec, "--peer-log", str(bench["log"]), *out]) == 2
    assert "no such spec file" in capsys.readouterr().err
