"""A sweep whose run folders are gone takes its finished runs from its own report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import TINY_SWEEP as TINY

from genpolicy.cli import main
from genpolicy.errors import GenpolicyError
from genpolicy.experiments.local import run_local
from genpolicy.experiments.report import make_report
from genpolicy.experiments.reported import reported_trials
from genpolicy.experiments.spec import expand, parse_spec, trial_config


def spec_dict(out: Path, grid: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": "toy",
        "out": str(out),
        "bases": {"gmpo": "toy-gmpo", "iql": "toy-iql", "long": "toy-gmpo", "branch": "toy-gmpo"},
        "set": dict(TINY),
        "grid": grid or {"algo": ["gmpo", "iql"], "seed": [0, 1]},
    }


def fake_runs(spec: Any, ids: list[str], steps: int = 300) -> None:
    """Run folders as the trainer leaves them (config, trial, summary, eval rows), then the
    sweep's report of them, then the folders deleted, as on a new machine."""
    write_runs(spec, ids, steps)
    make_report(spec.out / "runs", spec.out / "report")
    shutil.rmtree(spec.out / "runs")


def write_runs(spec: Any, ids: list[str], steps: int = 300) -> None:
    for t in expand(spec, check=False):
        if t.id not in ids:
            continue
        run = spec.out / "runs" / t.id
        run.mkdir(parents=True)
        (run / "config.yaml").write_text(yaml.safe_dump(trial_config(spec, t).to_dict()))
        (run / "trial.json").write_text(json.dumps(t.to_dict()))
        (run / "summary.json").write_text(json.dumps({"steps": steps, "interrupted": False}))
        rows = [
            {"kind": "eval", "step": s, "eval/score_mean": s / 1000 + t.seed} for s in (100, 200)
        ]
        (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def entries(out: Path) -> list[dict[str, Any]]:
    return list(json.loads((out / "report" / "results.json").read_text())["runs"])


def rewrite(out: Path, change: Any) -> None:
    path = out / "report" / "results.json"
    data = json.loads(path.read_text())
    for e in data["runs"]:
        change(e)
    path.write_text(json.dumps(data))


@pytest.fixture
def three_reported(tmp_path: Path) -> tuple[Path, Any]:
    """A sweep of 4 trials whose report holds 3 finished runs and whose run folders are gone."""
    out = tmp_path / "out"
    spec = parse_spec(spec_dict(out))
    fake_runs(spec, ["gmpo-s0", "gmpo-s1", "iql-s0"])
    return out, spec


def test_runs_kept_by_the_report_count_as_done_and_stay_in_the_next_report(
    tmp_path: Path, three_reported: tuple[Path, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    out, spec = three_reported
    assert all(e["config"]["algo"]["name"] in ("gmpo", "iql") for e in entries(out))
    found = reported_trials(spec, expand(spec, check=False))
    assert sorted(found.runs) == ["gmpo-s0", "gmpo-s1", "iql-s0"]
    assert found.by_overrides == found.differing == found.unfinished == found.retrained == []
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(spec_dict(out)))
    assert main(["sweep", str(path), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "3 trial(s) done in" in text and "(run folders absent): not trained again" in text
    assert "gmpo-s0" in text and "[reported]" in text and "iql-s1" in text and "[new]" in text
    # the report made again from no run folders at all keeps the three runs and their numbers
    before = json.loads((out / "report" / "results.json").read_text())["datasets"]
    make_report(out / "runs", out / "report", kept=list(found.runs.values()))
    assert json.loads((out / "report" / "results.json").read_text())["datasets"] == before


def test_a_run_folder_wins_over_the_report(tmp_path: Path) -> None:
    out = tmp_path / "out"
    spec = parse_spec(spec_dict(out))
    fake_runs(spec, ["gmpo-s0"])
    (out / "runs" / "gmpo-s0").mkdir(parents=True)
    (out / "runs" / "gmpo-s0" / "config.yaml").write_text("{}")
    assert reported_trials(spec, expand(spec, check=False)).runs == {}


def test_settings_that_changed_or_a_run_that_stopped_short_are_not_kept(tmp_path: Path) -> None:
    out = tmp_path / "out"
    fake_runs(parse_spec(spec_dict(out)), ["gmpo-s0", "iql-s0"])
    changed = parse_spec(
        spec_dict(out, {"algo": {"gmpo": {}, "iql": {"algo.lr": 0.01}}, "seed": [0]})
    )
    found = reported_trials(changed, expand(changed, check=False))
    assert sorted(found.runs) == ["gmpo-s0"] and found.differing == ["iql-s0"]
    longer = parse_spec({**spec_dict(out), "set": {**TINY, "train.steps": 400}})
    found = reported_trials(longer, expand(longer, check=False))
    assert found.runs == {} and found.unfinished == ["gmpo-s0", "iql-s0"]
    # a change of a key that changes no result keeps them
    quiet = parse_spec({**spec_dict(out), "set": {**TINY, "train.progress": False}})
    assert sorted(reported_trials(quiet, expand(quiet, check=False)).runs) == ["gmpo-s0", "iql-s0"]


def test_a_report_without_configs_is_compared_by_the_specs_settings(tmp_path: Path) -> None:
    out = tmp_path / "out"
    fake_runs(parse_spec(spec_dict(out)), ["gmpo-s0", "iql-s0"])
    rewrite(out, lambda e: e.pop("config"))
    spec = parse_spec(spec_dict(out))
    found = reported_trials(spec, expand(spec, check=False))
    assert sorted(found.runs) == sorted(found.by_overrides) == ["gmpo-s0", "iql-s0"]
    changed = parse_spec(
        spec_dict(out, {"algo": {"gmpo": {}, "iql": {"algo.lr": 0.01}}, "seed": [0]})
    )
    assert reported_trials(changed, expand(changed, check=False)).differing == ["iql-s0"]


def test_a_kept_trunk_trains_again_for_a_branch_that_still_has_to_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    point = "{out}/runs/long-s0/checkpoints/step100"
    grid = {
        "algo": {
            "long": {"train.checkpoint_at": [100]},
            "branch": {"train.init_from": point, "train.init_history": True},
        },
        "seed": [0],
    }
    spec = parse_spec(spec_dict(out, grid))
    fake_runs(spec, ["long-s0"])
    found = reported_trials(spec, expand(spec, check=False))
    assert found.runs == {} and found.retrained == ["long-s0"]
    only_trunk = reported_trials(spec, expand(spec, check=False), to_run={"long-s0"})
    assert sorted(only_trunk.runs) == ["long-s0"] and only_trunk.retrained == []


def test_an_unreadable_report_stops_the_sweep_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    (out / "report").mkdir(parents=True)
    (out / "report" / "results.json").write_text("{not json")
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(spec_dict(out)))
    assert main(["sweep", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "results.json" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(GenpolicyError, match="cannot read"):
        reported_trials(parse_spec(spec_dict(out)), [])


@pytest.mark.slow
def test_a_sweep_run_again_without_its_run_folders_trains_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(spec_dict(out, {"algo": ["gmpo"], "seed": [0]})))
    assert main(["sweep", str(path), "--workers", "1", "--status-every", "0", "--report"]) == 0
    first = json.loads((out / "report" / "results.json").read_text())
    shutil.rmtree(out / "runs")
    capsys.readouterr()
    assert main(["sweep", str(path), "--workers", "1", "--status-every", "0", "--report"]) == 0
    text = capsys.readouterr().out
    assert "1 trial(s) done in" in text and "0 trial(s) finished, 0 failed" in text
    again = json.loads((out / "report" / "results.json").read_text())
    assert again["datasets"] == first["datasets"] and again["runs"] == first["runs"]


def test_the_report_is_written_after_each_finished_trial(tmp_path: Path) -> None:
    """With --report the sweep rewrites its report as trials finish, so that a sweep stopped
    half-way, or a machine taken away, leaves every finished run in results.json."""
    out = tmp_path / "out"
    small = dict(TINY, **{"train.steps": 20, "train.eval_every": 10})
    spec = parse_spec({**spec_dict(out, {"algo": ["gmpo"], "seed": [0, 1]}), "set": small})
    seen: list[list[str]] = []

    def after() -> None:
        make_report(out / "runs", out / "report")
        seen.append(sorted(e["name"] for e in entries(out) if e["status"] == "finished"))

    assert run_local(spec, expand(spec), workers=1, status_every=0, after_trial=after).ok
    assert seen == [["gmpo-s0"], ["gmpo-s0", "gmpo-s1"]]


def test_genpolicy_report_names_the_runs_it_would_drop_and_keeps_them_on_request(
    three_reported: tuple[Path, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    out, spec = three_reported
    write_runs(spec, ["gmpo-s0"])
    report = ["report", str(out / "runs"), "--out", str(out / "report")]
    assert main([*report, "--keep"]) == 0
    assert sorted(e["name"] for e in entries(out)) == ["gmpo-s0", "gmpo-s1", "iql-s0"]
    capsys.readouterr()
    assert main(report) == 0
    err = capsys.readouterr().err
    assert "2 finished run(s) of the earlier report have no folder" in err and "--keep" in err
    assert [e["name"] for e in entries(out)] == ["gmpo-s0"]


def test_a_run_trained_by_hand_into_the_sweeps_folder_is_kept(tmp_path: Path) -> None:
    """A finished run trained outside the sweep into its run folder (no trial.json) stays in
    the next report once its folder is gone; one that stopped short does not."""
    out = tmp_path / "out"
    spec = parse_spec(spec_dict(out))
    write_runs(spec, ["gmpo-s0"])
    for name, steps, interrupted in (("by-hand", 300, False), ("stopped", 100, True)):
        shutil.copytree(out / "runs" / "gmpo-s0", out / "runs" / name)
        (out / "runs" / name / "trial.json").unlink()
        summary = {"steps": steps, "interrupted": interrupted}
        (out / "runs" / name / "summary.json").write_text(json.dumps(summary))
    make_report(out / "runs", out / "report")
    shutil.rmtree(out / "runs")
    found = reported_trials(spec, expand(spec, check=False))
    assert sorted(found.runs) == ["gmpo-s0"] and [r.name for r in found.outside] == ["by-hand"]
    make_report(out / "runs", out / "report", kept=found.kept())
    assert sorted(e["name"] for e in entries(out)) == ["by-hand", "gmpo-s0"]
