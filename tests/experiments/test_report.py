"""``genpolicy report``: numbers, tables and pictures made from run folders alone."""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

from genpolicy.cli import report as report_cli
from genpolicy.errors import GenpolicyError
from genpolicy.experiments.report import collect_runs, make_report, summarise
from genpolicy.experiments.report.runs import MAX_STEP_COLUMNS
from genpolicy.experiments.report.stats import _milestones

# known scores: base per (dataset, group) + 4 * seed + a bump that peaks at step 2000
BASE = {
    ("hopper-medium-v2", "iql"): 40.0,
    ("hopper-medium-v2", "gmpo algo.beta=8"): 60.0,
    ("walker2d-medium-v2", "iql"): 50.0,
    ("walker2d-medium-v2", "gmpo algo.beta=8"): 70.0,
}
BUMP = {1000: 0.0, 2000: 20.0, 2500: 5.0, 3000: 10.0}
K2_OFFSET = -30.0  # eval_k2/score_mean = score - 30
C16_OFFSET = 5.0  # eval_c16/score_mean = score + 5 (the best of 16 candidates by Q)
DATASET_ARG = {"hopper-medium-v2": "/data/d4rl/hopper-medium-v2.hdf5"}


def score(ds: str, group: str, seed: int, step: int) -> float:
    return BASE[(ds, group)] + 4 * seed + BUMP[step]


def write_run(
    root: Path,
    ds: str,
    group: str,
    seed: int,
    steps: list[int],
    *,
    finished: bool = True,
    value: Any = None,
    corrupt_line: bool = False,
    scores_null: bool = False,
) -> Path:
    algo = "iql" if group == "iql" else "gmpo"
    d = root / ds / group.replace(" ", "_") / f"s{seed}"
    d.mkdir(parents=True)
    cfg = {
        "algo": {"name": algo},
        "model": {},
        "critic": {},
        "data": {"dataset": DATASET_ARG.get(ds, ds)},
        "train": {"seed": seed, "steps": steps[-1]},
    }
    (d / "config.yaml").write_text(yaml.safe_dump(cfg))
    rows: list[dict[str, Any]] = []
    for step in steps:
        rows.append({"kind": "train", "step": step, "steps_per_s": 50.0, "policy/loss": 0.1})
        v = value if value is not None else score(ds, group, seed, step)
        row = {
            "kind": "eval",
            "step": step,
            "eval/return_mean": 10 * v,
            "eval/return_std": 1.0,
            "eval/score_mean": None if scores_null else v,
            "eval/score_std": None if scores_null else 1.0,
            "eval/episodes": 10,
        }
        if algo == "gmpo":
            row["eval_k2/score_mean"] = v + K2_OFFSET
            row["eval_k2/return_mean"] = 10 * (v + K2_OFFSET)
            row["eval_c16/score_mean"] = v + C16_OFFSET
        rows.append(row)
    lines = [json.dumps(r) for r in rows]
    if corrupt_line:
        lines.insert(1, '{"kind": "eval", "step": 10')
    (d / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    if group != "iql":
        trial = {"sweep": "s", "trial": f"{ds}-{seed}", "group": group, "seed": seed}
        trial |= {"params": {"algo.beta": 8}, "dataset": DATASET_ARG.get(ds, ds)}
        (d / "trial.json").write_text(json.dumps(trial))
    if finished:
        summary = {
            "run": d.name,
            "algo": algo,
            "dataset": ds,
            "seed": seed,
            "steps": steps[-1],
            "interrupted": False,
            "steps_per_s": 100.0 + seed,
            "train_seconds": 30.0 + seed,
            "last": rows[-1],
            "best": rows[-1],
        }
        (d / "summary.json").write_text(json.dumps(summary))
    return d


@pytest.fixture
def grid(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    for ds, group in BASE:
        for seed in (0, 1):
            steps = [1000, 2000, 3000]
            if (ds, group, seed) == ("hopper-medium-v2", "gmpo algo.beta=8", 0):
                steps = [1000, 2000, 2500, 3000]  # 2500 is not shared by seed 1
            write_run(root, ds, group, seed, steps, corrupt_line=(seed == 1 and group == "iql"))
    # an unfinished run (no summary.json): drawn, but left out of the tables
    write_run(root, "hopper-medium-v2", "iql", 2, [1000], finished=False, value=999.0)
    return root


def _close(stat: dict[str, Any], values: list[float]) -> None:
    assert stat["n"] == len(values)
    assert math.isclose(stat["mean"], statistics.fmean(values))
    if len(values) >= 2:
        assert math.isclose(stat["std"], statistics.stdev(values))
    else:
        assert stat["std"] is None


def test_report_numbers(grid: Path) -> None:
    with pytest.warns(UserWarning, match="corrupt"):
        md = make_report(grid, title="Test report")
    out = grid / "report"
    assert md == out / "report.md"
    res = json.loads((out / "results.json").read_text())
    assert res["meta"]["runs"] == 9 and res["meta"]["unfinished"] == 1
    assert set(res["datasets"]) == {"hopper-medium-v2", "walker2d-medium-v2"}  # file stem

    hop = res["datasets"]["hopper-medium-v2"]
    assert hop["metric"] == "eval/score_mean" and not hop["fallback"]
    assert hop["left_out"] == 1
    assert list(hop["groups"]) == [
        "gmpo algo.beta=8",
        "gmpo algo.beta=8 K=2",
        "gmpo algo.beta=8 N=16",
        "iql",
    ]  # a base group, then its K (sampler steps) and N (candidates) variants
    for ds in ("hopper-medium-v2", "walker2d-medium-v2"):
        for group in ("iql", "gmpo algo.beta=8"):
            g = res["datasets"][ds]["groups"][group]
            assert g["seeds"] == [0, 1]
            _close(g["last"], [score(ds, group, s, 3000) for s in (0, 1)])
            _close(g["best"], [score(ds, group, s, 2000) for s in (0, 1)])
        k2 = res["datasets"][ds]["groups"]["gmpo algo.beta=8 K=2"]
        assert k2["base"] == "gmpo algo.beta=8" and k2["k"] == 2
        _close(k2["last"], [score(ds, "gmpo algo.beta=8", s, 3000) + K2_OFFSET for s in (0, 1)])
        c16 = res["datasets"][ds]["groups"]["gmpo algo.beta=8 N=16"]
        assert c16["base"] == "gmpo algo.beta=8" and c16["k"] is None
        assert c16["variant"] == "N=16" and k2["variant"] == "K=2"
        _close(c16["last"], [score(ds, "gmpo algo.beta=8", s, 3000) + C16_OFFSET for s in (0, 1)])

    iql = hop["groups"]["iql"]
    assert math.isclose(iql["last"]["mean"], 52.0) and math.isclose(iql["best"]["mean"], 62.0)
    assert iql["left_out"]["unfinished"] == ["hopper-medium-v2/iql/s2"]
    # the unfinished run is in the curve (3 seeds at step 1000, its 999 is the band's top)
    assert iql["curve"]["step"] == [1000, 2000, 3000]
    assert iql["curve"]["n"] == [3, 2, 2] and iql["curve"]["max"][0] == 999.0
    assert iql["unfinished_in_curve"] == 1

    # fixed update counts: only the steps every finished run of the group shares
    gmpo = hop["groups"]["gmpo algo.beta=8"]
    assert [a["step"] for a in gmpo["at_steps"]] == [1000, 2000, 3000]
    at2k = gmpo["at_steps"][1]
    _close(at2k, [score("hopper-medium-v2", "gmpo algo.beta=8", s, 2000) for s in (0, 1)])
    assert hop["step_columns"] == [1000, 2000, 3000]
    assert gmpo["curve"]["step"] == [1000, 2000, 3000]  # 2500: seed 1 went past it

    # speed: summary.json for finished runs, the train rows for the unfinished one
    _close(iql["speed"]["steps_per_s"], [100.0, 101.0, 50.0])
    _close(iql["speed"]["train_seconds"], [30.0, 31.0])

    # average over datasets: per seed, then over seeds
    avg = res["average"]["groups"]["iql"]
    _close(avg["last"], [(50.0 + 60.0) / 2, (54.0 + 64.0) / 2])
    assert avg["seeds"] == [0, 1]

    # every table number in the markdown comes from results.json
    text = md.read_text()
    assert text.startswith("# Test report")
    assert f"{iql['last']['mean']:.1f} ± {iql['last']['std']:.1f}" in text
    assert f"{avg['last']['mean']:.1f} ± {avg['last']['std']:.1f}" in text
    assert "min..max over seeds" in text and "1 run(s) left out" in text
    assert "| 1k | 2k | 3k |" in text
    for ds in res["datasets"]:
        assert (out / res["datasets"][ds]["plot"]).stat().st_size > 1000
    csv_text = (out / "results.csv").read_text()
    assert "at_step,hopper-medium-v2,gmpo algo.beta=8,2000" in csv_text
    assert "actions" not in res or not res["actions"]  # no toy-bandit runs here


def test_one_seed_and_fallback_metric(tmp_path: Path) -> None:
    write_run(tmp_path, "walker2d-medium-v2", "iql", 3, [1000, 2000], scores_null=True)
    res = summarise(collect_runs(tmp_path))
    d = res["datasets"]["walker2d-medium-v2"]
    assert d["metric"] == "eval/return_mean" and d["fallback"]
    g = d["groups"]["iql"]
    assert g["last"]["n"] == 1 and g["last"]["std"] is None
    assert math.isclose(g["last"]["mean"], 10 * score("walker2d-medium-v2", "iql", 3, 2000))
    md = make_report(tmp_path, out=tmp_path / "rep")
    text = md.read_text()
    assert "(n=1)" in text and "null in every run" in text


def test_runs_on_different_files_of_one_dataset_are_flagged(tmp_path: Path) -> None:
    # seeds 0-1 trained on one draw of the file, seed 2 on another (summary.json records it)
    for seed, fp in ((0, "aaaa000011112222"), (1, "aaaa000011112222"), (2, "bbbb333344445555")):
        d = write_run(tmp_path, "walker2d-medium-v2", "iql", seed, [1000, 2000])
        s = json.loads((d / "summary.json").read_text())
        (d / "summary.json").write_text(json.dumps(s | {"dataset_fingerprint": fp}))
    write_run(tmp_path, "hopper-medium-v2", "iql", 0, [1000, 2000])  # no fingerprint: not counted
    res = summarise(collect_runs(tmp_path))
    assert res["datasets"]["walker2d-medium-v2"]["files"] == {
        "aaaa000011112222": 2,
        "bbbb333344445555": 1,
    }
    assert res["datasets"]["hopper-medium-v2"]["files"] == {}
    fps = {r["seed"]: r["dataset_fingerprint"] for r in res["runs"] if "walker2d" in r["name"]}
    assert fps == {0: "aaaa000011112222", 1: "aaaa000011112222", 2: "bbbb333344445555"}
    text = make_report(tmp_path, out=tmp_path / "rep").read_text()
    assert text.count("different files of") == 1  # walker2d's section only
    assert "2 different files of walker2d-medium-v2" in text and "`bbbb333344445555` 1" in text


def test_interrupted_runs_count_in_the_speed_but_not_the_seconds(tmp_path: Path) -> None:
    # seed 1 was interrupted: its updates/s is a rate like any other, its 5 s a part of a run
    for seed in (0, 1):
        d = write_run(tmp_path, "hopper-medium-v2", "iql", seed, [1000, 2000])
        if seed == 1:
            s = json.loads((d / "summary.json").read_text())
            s |= {"interrupted": True, "train_seconds": 5.0, "steps_per_s": 80.0}
            (d / "summary.json").write_text(json.dumps(s))
    sp = summarise(collect_runs(tmp_path))["datasets"]["hopper-medium-v2"]["groups"]["iql"]
    _close(sp["speed"]["steps_per_s"], [100.0, 80.0])
    _close(sp["speed"]["train_seconds"], [30.0])
    assert "seconds (finished runs)" in make_report(tmp_path, out=tmp_path / "r").read_text()


def test_empty_dir_and_cli(tmp_path: Path, grid: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.yaml").write_text("algo: {name: iql}\n")  # no metrics.jsonl: not a run
    with pytest.raises(GenpolicyError, match="no run folders"):
        make_report(empty)
    with pytest.raises(GenpolicyError, match="does not exist"):
        collect_runs(tmp_path / "missing")

    parser = argparse.ArgumentParser()
    report_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["report", str(grid), "--out", str(tmp_path / "cli")])
    assert args.metric is None and args.title is None  # eval/score_mean, or the summary's
    with pytest.warns(UserWarning, match="corrupt"):
        assert args.func(args) == 0
    assert (tmp_path / "cli" / "report.md").is_file()


def test_milestones() -> None:
    steps = list(range(1000, 100_001, 1000))
    cols = _milestones(steps)
    assert len(cols) <= MAX_STEP_COLUMNS and cols[-1] == 100_000
    assert set(cols) <= {1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000}
    assert _milestones([100, 200]) == [100, 200]


def test_toy_bandit_action_picture(tmp_path: Path) -> None:
    from genpolicy.training.config import create
    from genpolicy.training.trainer import fit

    overrides = {
        "train.steps": 200,
        "train.eval_every": 100,
        "train.out_dir": str(tmp_path),
        "train.progress": False,
        "train.eval_episodes": 50,
        "train.tensorboard": False,
    }
    run = fit(create("toy-gmpo", overrides)).run_dir
    broken = shutil.copytree(run, tmp_path / "broken")  # same run, unreadable checkpoint
    (broken / "checkpoints" / "last.safetensors").write_bytes(b"not a checkpoint")
    (broken / "trial.json").write_text(json.dumps({"group": "broken", "seed": 0}))

    md = make_report(tmp_path)
    res = json.loads((md.parent / "results.json").read_text())
    act = res["actions"]
    g = act["groups"]["gmpo"]
    assert g["run"] == run.name and g["seed"] == 0
    assert 0.0 <= g["best"] <= 1.0 and 0.0 <= g["none"] <= 1.0
    assert "cannot load" in act["groups"]["broken"]["skipped"]
    assert (md.parent / act["png"]).stat().st_size > 1000
    text = md.read_text()
    assert "Toy bandit: sampled actions" in text and "broken: skipped" in text
    assert f"{g['best']:.2f}" in text
    toy = res["datasets"]["toy-bandit"]["groups"]["gmpo"]
    assert toy["last"]["n"] == 1 and toy["curve"]["step"] == [100, 200]
    assert res["average"]["groups"] == {}  # the toy bandit is not averaged with benchmarks


def _report_files(folder: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted(folder.iterdir())}


def test_report_again_from_its_results_json(tmp_path: Path, grid: Path) -> None:
    """results.json keeps every run: with the run folders deleted, the report made from it
    (the file, or the folder holding report/) is the same, byte for byte, PNGs included."""
    bench = tmp_path / "bench"
    bench.mkdir()
    grid.rename(bench / "runs")
    with pytest.warns(UserWarning, match="corrupt"):
        make_report(bench / "runs", bench / "report", metric="eval/return_mean", title="T")
    first = _report_files(bench / "report")
    assert set(first) >= {"report.md", "results.json", "results.csv"}
    assert any(n.endswith(".png") for n in first)
    for name in (n for n in first if n.endswith(".png")):  # palette pictures: small files
        with Image.open(bench / "report" / name) as im:
            assert im.mode == "P" and len(im.getpalette() or []) // 3 <= 128
    res = json.loads(first["results.json"])
    assert list(res)[-1] == "runs"  # the runs last, one a line
    hopper = [r for r in res["runs"] if r["name"] == "hopper-medium-v2/iql/s0"][0]
    assert hopper["evals"][0] == {
        "step": 1000,
        "eval/return_mean": 400.0,
        "eval/return_std": 1.0,
        "eval/score_mean": 40.0,
        "eval/score_std": 1.0,
        "eval/episodes": 10,
    }
    assert hopper["train_steps_per_s"] == [50.0, 50.0, 50.0]
    assert hopper["summary"]["steps_per_s"] == 100.0 and hopper["trial"] is None
    assert hopper["status"] == "finished" and hopper["skipped_lines"] == 0
    lines = first["results.json"].decode().splitlines()
    assert len(lines) < 100 and sum('"name": "' in line for line in lines) == 9

    shutil.rmtree(bench / "runs")
    for i, source in enumerate([bench / "report" / "results.json", bench]):
        out = tmp_path / f"again{i}"
        assert make_report(source, out) == out / "report.md"  # metric and title kept
        assert _report_files(out) == first
    runs = collect_runs(bench / "report")
    assert len(runs) == 9 and sum(r.finished for r in runs) == 8
    unplotted = {
        ds: {k: v for k, v in d.items() if k != "plot"} for ds, d in res["datasets"].items()
    }
    assert summarise(runs, "eval/return_mean")["datasets"] == unplotted

    parser = argparse.ArgumentParser()
    report_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["report", str(bench / "report" / "results.json")])
    assert args.func(args) == 0  # in place: the same files again
    assert _report_files(bench / "report") == first


def test_old_results_json_without_runs_is_refused(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text(json.dumps({"runs": [{"name": "a"}]}))
    with pytest.raises(GenpolicyError, match="before reports kept"):
        collect_runs(tmp_path / "results.json")
    (tmp_path / "results.json").write_text("{}")
    with pytest.raises(GenpolicyError, match="no runs list"):
        collect_runs(tmp_path)


def test_a_curve_plot_with_many_groups_keeps_its_legend_without_warnings(tmp_path: Path) -> None:
    import warnings

    from matplotlib.image import imread

    from genpolicy.experiments.report.plots import plot_curves

    curve = {"step": [0, 10], "mean": [0.0, 1.0], "min": [0.0, 0.5], "max": [0.0, 1.5]}
    groups = {
        f"algo{i} variant-with-a-long-name": {
            "base": f"algo{i}",
            "variant": "",
            "curve": curve,
            "curve_seeds": [0, 1],
            "unfinished_in_curve": 0,
        }
        for i in range(67)
    }
    d = {"metric": "eval/score_mean", "fallback": False, "groups": groups}
    path = tmp_path / "curves.png"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. tight_layout's "not compatible" UserWarning
        plot_curves("toy", d, "eval/score_mean", path, None)
    height, width = imread(path).shape[:2]
    assert width > 9.5 * 110  # the picture grew to hold the legend beside the axes
