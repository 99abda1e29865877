"""benchmarks/sensitivity.py: score against a grid setting, per sweep, dataset and step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers import script

sens = script("benchmarks/sensitivity.py")


def _run(beta: float, seed: int, scores: dict[int, float], dataset: str = "d") -> dict[str, Any]:
    return {
        "dataset": dataset,
        "algo": "gmpo",
        "seed": seed,
        "evals": [{"step": s, "eval/score_mean": v} for s, v in scores.items()],
        "trial": {"overrides": {"algo.beta": beta, "train.seed": seed}},
    }


def test_cells_average_the_seeds_that_reached_each_step(tmp_path: Path) -> None:
    runs = [
        _run(2.0, 0, {5000: 10.0, 20000: 30.0}),
        _run(2.0, 1, {5000: 14.0}),  # not at 20k yet: left out of that cell
        _run(20.0, 0, {5000: 1.0, 20000: 2.0}),
        {"dataset": "d", "algo": "gmpo", "seed": 0, "evals": [], "trial": None},  # no beta
    ]
    path = tmp_path / "temperature-gmpo" / "report" / "results.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"meta": {"root": "x/temperature-gmpo/runs"}, "runs": runs}))
    assert sens.main([str(path), "--steps", "5000,20000", "--out", str(tmp_path / "out")]) == 0
    rows = json.loads((tmp_path / "out" / "sensitivity.json").read_text())["rows"]
    cell = {(r["value"], r["step"]): r for r in rows}
    assert cell[(2.0, 5000)]["mean"] == 12.0 and cell[(2.0, 5000)]["seeds"] == [0, 1]
    assert cell[(2.0, 20000)]["mean"] == 30.0 and cell[(2.0, 20000)]["std"] is None
    assert cell[(20.0, 20000)]["scores"] == [2.0]
    assert {r["sweep"] for r in rows} == {"temperature-gmpo"}
    assert (tmp_path / "out" / "sensitivity.png").stat().st_size > 0
    # a key no run was swept over, a step that is no number and runs that differ in another
    # grid setting are each refused (exit code 2)
    assert sens.main([str(path), "--key", "algo.lr", "--out", str(tmp_path / "o2")]) == 2
    assert sens.main([str(path), "--steps", "5k", "--out", str(tmp_path / "o3")]) == 2
    runs.append(_run(2.0, 0, {5000: 50.0}))  # beta 2, seed 0 again (another lr, say)
    path.write_text(json.dumps({"meta": {"root": "x/temperature-gmpo/runs"}, "runs": runs}))
    assert sens.main([str(path), "--steps", "5000", "--out", str(tmp_path / "o4")]) == 2


def test_train_metric_reads_each_runs_row_at_the_step(tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    runs = []
    for seed, ess in [(0, (0.9, 0.5)), (1, (0.7, 0.3))]:
        run = _run(6.0, seed, {2000: 10.0 + seed})
        run["name"] = f"b6-s{seed}"
        folder = runs_dir / run["name"]
        folder.mkdir(parents=True)
        rows = [
            {"kind": "train", "step": 1000, "policy/weight_ess": ess[0]},
            {"kind": "eval", "step": 2000, "eval/score_mean": 10.0 + seed},
            {"kind": "train", "step": 3000, "policy/weight_ess": ess[1]},  # after the step
        ]
        (folder / "metrics.jsonl").write_text(
            "\n".join(json.dumps(r) for r in rows) + "\n[1, 2]\n{cut"
        )
        runs.append(run)
    path = tmp_path / "temperature-gmpo" / "report" / "results.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"meta": {"root": str(runs_dir)}, "runs": runs}))
    argv = [str(path), "--steps", "2000", "--train-metric", "policy/weight_ess"]
    assert sens.main([*argv, "--out", str(tmp_path / "out")]) == 0
    (row,) = json.loads((tmp_path / "out" / "sensitivity.json").read_text())["rows"]
    assert row["train"]["policy/weight_ess"]["values"] == [0.9, 0.7]  # the rows at step 1000
    assert abs(row["train"]["policy/weight_ess"]["mean"] - 0.8) < 1e-9
    # a metric no row has, and run folders that are not there, are refused (exit code 2)
    assert sens.main([*argv[:3], "--train-metric", "nope", "--out", str(tmp_path / "o")]) == 2
    argv_elsewhere = [*argv, "--runs", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]
    assert sens.main(argv_elsewhere) == 2
