"""benchmarks/act_speed.py (actions/s at batch 1 of trained runs) and the tables of
``genpolicy tables``: the comparison built from run summaries (run folders, or the runs a
report's results.json keeps) and its JSON, the grid, target, noise and evaluation tables."""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from helpers import script

from genpolicy.cli.tables import add_parser
from genpolicy.errors import GenpolicyError
from genpolicy.experiments.report import make_report, tables
from genpolicy.rl.algos.acting import ActConfig
from genpolicy.rl.algos.base import Algorithm
from genpolicy.training.config import create
from genpolicy.training.trainer import fit


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two finished tiny runs (GMPO acting with an EMA copy, 3 steps of the model's solver
    and 2 candidates; IQL, no sampler) and an unfinished one (no summary.json)."""
    root = tmp_path_factory.mktemp("runs")
    over: dict[str, Any] = {
        "model.hidden": 16,
        "model.depth": 1,
        "model.time_dim": 8,
        "critic.hidden": 16,
        "algo.batch_size": 32,
        "train.steps": 2,
        "train.eval_every": 0,
        "train.eval_episodes": 2,
        "train.progress": False,
        "train.tensorboard": False,
        "train.out_dir": str(root),
    }
    gmpo = {"algo.act.steps": 3, "algo.act.candidates": 2, "algo.ema": 0.9, "model.solver": "heun"}
    done = fit(create("toy-gmpo", {**over, **gmpo, "train.run_name": "gmpo-s0"})).run_dir
    fit(create("toy-iql", {**over, "train.run_name": "iql-s0"}))
    unfinished = shutil.copytree(done, root / "gmpo-s1")
    (unfinished / "summary.json").unlink()
    return root


def test_act_speed_times_each_finished_run_as_it_evaluates(
    runs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    act_speed = script("benchmarks/act_speed.py")
    calls: list[tuple[str, tuple[int, ...], Any]] = []
    real_act = Algorithm.act

    def act(self: Algorithm, obs: Any, act_cfg: ActConfig | None = None) -> Any:
        calls.append((self.name, obs.shape, act_cfg))
        return real_act(self, obs, act_cfg)

    monkeypatch.setattr(Algorithm, "act", act)
    out = tmp_path / "speed.json"
    assert (
        act_speed.main([str(runs), str(runs / "gmpo-s0"), "--out", str(out), "--seconds", "0.1"])
        == 0
    )
    res = json.loads(out.read_text())
    recs = {r["run"]: r for r in res["timings"]}
    assert sorted(recs) == ["gmpo-s0", "iql-s0"]  # each run once, the unfinished one skipped
    assert res["skipped"] == [
        {"run": "gmpo-s1", "path": str(runs / "gmpo-s1"), "reason": "unfinished (no summary.json)"}
    ]
    g, i = recs["gmpo-s0"], recs["iql-s0"]
    assert g["act"] == {"steps": 3, "solver": "heun", "candidates": 2, "noise_scale": 1.0}
    assert g["acting_weights"] == "ema" and g["acting"] == "3-step heun, 2 candidates, ema weights"
    assert (g["algo"], g["group"], g["seed"], g["step"], g["checkpoint"]) == (
        "gmpo", "gmpo", 0, 2, "last"
    )  # fmt: skip
    assert i["act"] is None and i["acting"] == "no sampler, online weights"
    for rec in (g, i):
        assert rec["actions_per_s"] > 0 and rec["torch_threads"] == 1
        assert len(rec["load_average"]) == 3 and rec["dataset"] == "toy-bandit"
    # every timed call: one raw observation, (1, obs_dim), with the run's own act settings
    gmpo_calls = [c for c in calls if c[0] == "gmpo"]
    assert gmpo_calls and {c[1] for c in calls} == {(1, 2)}
    assert all(c[2] == ActConfig(steps=3, candidates=2) for c in gmpo_calls)
    assert all(c[2] is None for c in calls if c[0] == "iql")
    # at least --seconds of calls: the count matches the rate (plus the warm-up calls)
    assert len(gmpo_calls) >= 0.1 * g["actions_per_s"]
    printed = capsys.readouterr().out
    assert f"skip {runs / 'gmpo-s1'}: unfinished" in printed
    assert "gmpo-s0: gmpo toy-bandit s0 step 2:" in printed and "2 timed, 1 skipped" in printed


def test_act_speed_candidates_times_each_run_again_with_that_count(
    runs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    act_speed = script("benchmarks/act_speed.py")
    seen: list[ActConfig | None] = []
    real_act = Algorithm.act

    def act(self: Algorithm, obs: Any, act_cfg: ActConfig | None = None) -> Any:
        seen.append(act_cfg)
        return real_act(self, obs, act_cfg)

    monkeypatch.setattr(Algorithm, "act", act)
    out = tmp_path / "speed.json"
    argv = [str(runs / "gmpo-s0"), str(runs / "iql-s0"), "--out", str(out), "--seconds", "0.05"]
    assert act_speed.main([*argv, "--candidates", "16"]) == 0
    res = json.loads(out.read_text())
    acting = [(r["run"], r["act"] and r["act"]["candidates"]) for r in res["timings"]]
    assert acting == [("gmpo-s0", 2), ("gmpo-s0", 16), ("iql-s0", None)]
    assert ActConfig(steps=3, candidates=16) in seen
    # IQL has no sampler to rank: that timing is skipped with the reason, not a traceback
    assert res["skipped"] == [
        {
            "run": "iql-s0",
            "path": str(runs / "iql-s0"),
            "reason": "--candidates 16: --candidates/--steps/--noise-scale need a generative "
            "policy; this is iql",
        }
    ]
    with pytest.raises(SystemExit):
        act_speed.main([*argv, "--candidates", "0"])
    # --steps K: the same runs acting with K sampler steps (a flow map's K jumps)
    assert act_speed.main([*argv[:1], *argv[2:], "--steps", "1", "--steps", "5"]) == 0
    steps = [r["act"]["steps"] for r in json.loads(out.read_text())["timings"]]
    assert steps == [3, 1, 5]
    with pytest.raises(SystemExit):
        act_speed.main([*argv, "--steps", "0"])


def test_comparison_table(runs: Path) -> None:
    summary = json.loads((runs / "gmpo-s0" / "summary.json").read_text())
    speed = {
        "meta": {"command": "python benchmarks/act_speed.py RUNS", "seconds": 2.0},
        "timings": [
            {"group": "gmpo", "actions_per_s": a, "acting": "3-step euler, ema weights",
             "torch_threads": 1, "load_average": [0.5, 0.5, 0.5]}
            for a in (100.0, 300.0)
        ],
    }  # fmt: skip
    text = tables.comparison_table(str(runs), speed, "speed.json", [], ["gmpo", "iql", "fql"])
    lines = text.splitlines()
    assert lines[0].startswith("| algorithm | toy-bandit | updates |")
    score = summary["last"]["eval/score_mean"]
    assert lines[2] == (
        f"| GMPO | {score:.1f} (1) | 2 | 0 | 3-step euler, ema weights | 200 (2) |"
    )  # the unfinished seed is left out; actions/s: the mean over the timed runs
    assert lines[3].startswith("| IQL | ") and lines[3].endswith(" | — | — |")
    assert lines[4] == "| FQL | — | — | — | — | — |"
    assert "python benchmarks/act_speed.py RUNS" in text
    missing = tables.comparison_table(str(runs), None, "speed.json", [], ["gmpo"])
    assert "not measured (no" in missing and missing.splitlines()[2].endswith(" | — | — |")


def _tables_cli(argv: list[str]) -> str:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["tables", *argv])
    return tables.table_text(args)


def test_tables_from_a_report_without_its_run_folders(runs: Path, tmp_path: Path) -> None:
    """The comparison and the grid table read the same from a report's results.json (or the
    folder holding report/) once the run folders are deleted."""
    bench = tmp_path / "bench"
    shutil.copytree(runs, bench / "runs", ignore=shutil.ignore_patterns("checkpoints"))
    speed = tmp_path / "speed.json"
    speed.write_text(json.dumps({"meta": {"seconds": 2.0}, "timings": []}))
    make_report(bench / "runs", bench / "report")
    argv = ["--act-speed", str(speed), "--groups", "gmpo,iql"]
    before = _tables_cli([str(bench / "runs"), *argv])
    grid_before = _tables_cli([str(bench / "report" / "results.json")])
    shutil.rmtree(bench / "runs")

    def body(text: str) -> str:  # the table; its footnote names the source
        return text.split("\n\n*Generated")[0]

    for source in (bench / "report" / "results.json", bench / "report", bench):
        after = _tables_cli([str(source), *argv])
        assert body(after) == body(before) and "| GMPO | " in after
    assert _tables_cli([str(bench / "report" / "results.json")]) == grid_before
    assert not tables.is_eval_folder(bench / "report")  # a report, not evaluate outputs
    assert tables.benchmark_name(bench / "report" / "results.json") == "bench"
    assert tables.benchmark_name(bench / "runs") == "bench"


def test_group_rows_order_the_numbers_in_their_labels_by_value() -> None:
    labels = ["default K=16", "default", "beta=20.0", "default K=2", "beta=6.0", "default K=1"]
    assert sorted(["lr=0.001", "lr=3e-05", "lr=0.0001"], key=tables.natural) == [
        "lr=3e-05",
        "lr=0.0001",
        "lr=0.001",
    ]
    assert sorted(["x=0", "x=-1", "x=1", "x=-2"], key=tables.natural) == [
        "x=-2",
        "x=-1",
        "x=0",
        "x=1",
    ]
    cell = {"at_steps": [{"step": 5000, "mean": 1.0, "n": 1}]}
    results = [{"datasets": {"a": {"groups": {g: cell for g in labels}}}}]
    rows = [line.split(" | ")[0][2:] for line in tables.table(results, [5000], []).splitlines()]
    assert rows[2:] == [
        "beta=6.0",
        "beta=20.0",
        "default",
        "default K=1",
        "default K=2",
        "default K=16",
    ]


def test_target_table_averages_datasets_and_compares_with_the_reference() -> None:

    def group(*cells: tuple[int, float, int]) -> dict[str, Any]:
        return {"at_steps": [{"step": s, "mean": m, "n": n} for s, m, n in cells]}

    results = [
        {
            "datasets": {
                "a": {"groups": {"iql": group((20000, 10.0, 2)), "gmpo": group((20000, 16.0, 2))}},
                "b": {
                    "groups": {
                        "iql": group((20000, 30.0, 2), (50000, 40.0, 1)),
                        "gmpo": group((20000, 20.0, 1), (50000, 50.0, 1)),
                    }
                },
            }
        }
    ]
    lines = tables.target_table(results, [20000, 50000], [], "iql").splitlines()
    assert lines[0] == "| group | mean @ 20k | vs iql @ 20k | mean @ 50k | vs iql @ 50k |"
    assert lines[2] == "| iql | 20.0 (4 runs) | — | — (1/2 datasets) | — |"  # reference first
    assert lines[3] == "| gmpo | 18.0 (3 runs) | -2.0 | — (1/2 datasets) | — |"
    only = tables.target_table(results, [20000], [], "iql", only=["gmpo", "iql"]).splitlines()
    assert [line.split(" | ")[0] for line in only[2:]] == ["| iql", "| gmpo"]
    assert len(tables.target_table(results, [20000], [], "iql", only=["gmpo"]).splitlines()) == 3


def test_target_table_gives_the_seed_paired_standard_error_of_the_difference() -> None:

    def group(seeds: list[int], values: list[float]) -> dict[str, Any]:
        mean = sum(values) / len(values)
        row = {"step": 20000, "mean": mean, "n": len(values), "seeds": seeds, "values": values}
        return {"at_steps": [row]}

    results = [
        {
            "datasets": {
                # differences 7 and 5: variance 2, over 2 seeds 1
                "a": {
                    "groups": {
                        "iql": group([0, 1], [8, 12]),
                        "gmpo": group([0, 1], [15, 17]),
                        "bc": group([0, 1], [1, 3]),
                    }
                },
                # seed 2 has no IQL run: paired over seeds 0-1, differences 1 and -1 (variance 2)
                "b": {
                    "groups": {
                        "iql": group([0, 1], [20, 30]),
                        "gmpo": group([0, 1, 2], [21, 29, 40]),
                        "bc": group([0], [5]),
                    }
                },
            }
        }
    ]
    lines = tables.target_table(results, [20000], [], "iql").splitlines()
    assert lines[2] == "| iql | 17.5 (4 runs) | — |"
    # bc: one paired seed on b, so no spread: the difference alone
    assert lines[3] == "| bc | 3.5 (3 runs) | -14.0 |"
    # gmpo: (16 + 30) / 2 = 23 against 17.5; se = sqrt(1 + 1) / 2 = 0.71
    assert lines[4] == "| gmpo | 23.0 (5 runs) | +5.5 ± 0.7 |"


def test_noise_table_names_each_acting_setting() -> None:
    result = {
        "settings": [["1", 1.0, 1, None], ["0k1", 0.0, 1, 1], ["c16", 1.0, 16, None]],
        "groups": [{"dataset": "d", "group": "g", "seeds": 2, "score@1": 50.0, "score@0k1": 97.44}],
    }
    lines = tables.noise_table(result).splitlines()
    assert (
        lines[0] == "| dataset | group | seeds | noise 1 | noise 0, 1 step | 16 candidates by Q |"
    )
    assert lines[2] == "| d | g | 2 | 50.0 | 97.4 | — |"


def test_eval_table_groups_seeds_and_compares_with_the_target(tmp_path: Path) -> None:
    runs = [("bc-deterministic-s0", 40.0), ("bc-deterministic-s1", 60.0), ("gmpg-s1", 45.0)]
    for name, score in runs:
        out = {"checkpoint": f"runs/{name}", "episodes": 100, "score_mean": score}
        (tmp_path / f"{name}.json").write_text(json.dumps(out))
    assert tables.is_eval_folder(tmp_path)
    lines = tables.eval_table(tmp_path, "bc-deterministic").splitlines()
    assert lines[0] == (
        "| group | episodes | score per seed | mean ± std (seeds) | % of bc-deterministic |"
    )
    assert lines[1] == "| --- | --- | --- | --- | --- |"
    assert lines[2] == "| bc-deterministic | 100 | 40.0 / 60.0 | 50.0 ± 14.1 (2) | 100% |"
    assert lines[3] == "| gmpg | 100 | 45.0 | 45.0 (1) | 90% |"
    with pytest.raises(GenpolicyError, match="no such group"):
        tables.eval_table(tmp_path, "iql")
    (tmp_path / "broken-s0.json").write_text('{"episodes": 10}')
    with pytest.raises(GenpolicyError, match="not a 'genpolicy evaluate' output"):
        tables.eval_table(tmp_path)
    run = tmp_path / "runs" / "a-s0"
    run.mkdir(parents=True)
    (run / "summary.json").write_text("{}")
    assert not tables.is_eval_folder(tmp_path / "runs")  # a folder of run folders


def test_train_speed_table_ratios_and_populations() -> None:
    from genpolicy.experiments.report.bench_tables import train_speed_table

    def row(algo: str, mode: str, ups: float, pop: int = 1) -> dict[str, Any]:
        return {
            "algo": algo,
            "batch": 256,
            "mode": mode,
            "population": pop,
            "updates_per_s": ups,
            "member_updates_per_s": pop * ups,
        }

    machine = {"device_name": "a CPU", "device": "cpu", "torch": "2.13.0", "threads": 1}
    rows = [row("iql", "eager", 50.0), row("iql", "default", 75.0), row("iql", "eager", 10.0, 8)]
    text = train_speed_table({"machine": machine, "rows": rows})
    assert "| iql | 256 | 50 | 75 | 1.50x |" in text
    eager_only = train_speed_table({"machine": machine, "rows": rows[:1]})
    assert "| iql | 256 | 50 |\n" in eager_only  # no empty ratio cell
    assert "| iql | 256 | 8 | eager | 80 | 1.60x |" in text  # 8 x 10 member-updates/s against 50
    assert text.endswith("a CPU (cpu), torch 2.13.0, 1 thread(s).")


def test_memory_json_with_a_machine_line_gets_the_memory_table(tmp_path: Path) -> None:
    """benchmarks/gmpg_memory.py's JSON names its machine too: it must not be read as a
    train-speed benchmark."""
    result = {
        "machine": "cpu",
        "settings": [
            {
                "policy_batch": 256,
                "policy_microbatch": 64,
                "grad_checkpoint": True,
                "status": "ok",
                "peak_mb": 812.0,
                "cpu_s": 3.5,
            },
        ],
    }
    path = tmp_path / "memory.json"
    path.write_text(json.dumps(result))
    p = argparse.ArgumentParser()
    add_parser(p.add_subparsers())
    args = p.parse_args(["tables", str(path)])
    text = tables.table_text(args)
    assert "| 256 | 64 | on | 812 | 3.5 |" in text


def test_memory_table_extrapolates_only_a_published_batch_it_did_not_measure() -> None:
    from genpolicy.experiments.report.bench_tables import memory_table

    def setting(batch: int, ckpt: bool) -> dict[str, Any]:
        return {
            "policy_batch": batch,
            "policy_microbatch": -1,
            "policy_microbatch_used": 256,
            "grad_checkpoint": ckpt,
            "status": "ok",
            "peak_mb": 1600.0,
            "cpu_s": 7000.0,
        }

    def extrapolated(batch: int) -> dict[str, Any]:
        return {"measured_at_batch": batch, "cpu_s_per_microbatch": 44.0, "cpu_s_at_40960": 7040}

    result: dict[str, Any] = {
        "settings": [setting(8192, True), setting(1024, False)],
        "published_batch": {"checkpoint": extrapolated(8192), "plain": extrapolated(1024)},
    }
    text = memory_table(result)
    assert "measured at 8192) | 256 | on |" in text and "measured at 1024) | 256 | off |" in text
    result["settings"].append(setting(40_960, True))
    result["published_batch"]["checkpoint"] = extrapolated(40_960)
    text = memory_table(result)
    assert "| 40960 | 256 (default) | on | 1,600 | 7000.0 |" in text
    assert "measured at 40960" not in text and "measured at 1024) | 256 | off |" in text


def test_parity_table_pairs_the_difference_by_seed(tmp_path: Path) -> None:
    """Each side's mean ± std over seeds per evaluation, and each genpolicy side's
    difference from the peer at the last one, paired by seed (± its standard error)."""
    rows = [
        {"side": side, "seed": seed, "updates": u, "score_mean": score}
        for side, seed, u, score in [
            ("peer", 0, 10000, 10.0),
            ("peer", 1, 10000, 14.0),
            ("peer", 0, 20000, 20.0),
            ("peer", 1, 20000, 30.0),
            ("ours", 0, 10000, 11.0),
            ("ours", 1, 10000, 13.0),
            ("ours", 0, 20000, 23.0),
            ("ours", 1, 20000, 37.0),
            ("ours", 2, 20000, 99.0),  # no peer seed 2: not in the paired difference
        ]
    ]
    result = {"peer_side": "peer", "rows": rows, "updates_per_s": {"peer": 30.8, "ours": 47.1}}
    f = tmp_path / "parity.json"
    f.write_text(json.dumps(result))
    p = argparse.ArgumentParser()
    add_parser(p.add_subparsers())
    text = tables.table_text(p.parse_args(["tables", str(f)]))
    lines = text.splitlines()
    head = "| side | 10k | 20k | − peer at 20k | − peer, averaged over the columns | updates/s |"
    assert lines[0] == head
    assert lines[2] == "| peer | 12.0 ± 2.8 (2) | 25.0 ± 7.1 (2) | — | — | 30.8 |"
    # at 20k differences 3 and 7: mean 5, standard error std(3, 7) / sqrt(2) = 2.0; averaged
    # over 10k and 20k, seed 0: (1 + 3) / 2 = 2, seed 1: (-1 + 7) / 2 = 3: mean 2.5, se 0.5
    row = "| ours | 12.0 ± 1.4 (2) | 53.0 ± 40.4 (3) | +5.0 ± 2.0 (2) | +2.5 ± 0.5 (2) | 47.1 |"
    assert lines[3] == row
    assert "paired by seed" in text
    # --steps picks the columns; the difference is taken at the last of them
    text = tables.table_text(p.parse_args(["tables", str(f), "--steps", "10000"]))
    lines = text.splitlines()
    assert lines[0] == "| side | 10k | − peer at 10k | updates/s |"
    assert lines[3] == "| ours | 12.0 ± 1.4 (2) | +0.0 ± 1.0 (2) | 47.1 |"  # diffs 1, -1
    with pytest.raises(GenpolicyError, match="--steps 15000: no evaluation there; the results"):
        tables.table_text(p.parse_args(["tables", str(f), "--steps", "10000,15000"]))


@pytest.mark.parametrize(
    "text,message",
    [
        (None, "no such results file"),
        ("not json", "cannot read .* as JSON"),
        ("[1, 2]", "holds no JSON object"),
        ('{"runs": []}', "neither a genpolicy report's results.json nor a benchmark JSON"),
    ],
)
def test_tables_refuse_what_they_cannot_render(
    tmp_path: Path, text: str | None, message: str
) -> None:
    path = tmp_path / "results.json"
    if text is not None:
        path.write_text(text)
    p = argparse.ArgumentParser()
    add_parser(p.add_subparsers())
    with pytest.raises(GenpolicyError, match=message):
        tables.table_text(p.parse_args(["tables", str(path)]))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--steps", "abc"], "--steps must list update counts, e.g. 5000,20000, got 'abc'"),
        (["--steps", "-5"], "--steps must be >= 1, got '-5'"),
        (["--digits", "-1"], "--digits must be >= 0, got -1"),
        (["--groups", "gmpp"], "--groups gmpp: none of them is in the results; they have: "),
        (["--datasets", "hopper"], "--datasets hopper: none of them is in the results"),
    ],
)
def test_grid_table_options_are_checked(
    runs: Path, tmp_path: Path, argv: list[str], message: str
) -> None:
    make_report(runs, tmp_path / "report")
    results = str(tmp_path / "report" / "results.json")
    with pytest.raises(GenpolicyError, match=re.escape(message)):
        _tables_cli([results, *argv])
    assert "| gmpo |" in _tables_cli([results, "--groups", "gmpp,gmpo"])  # one is enough


def test_update_checks_every_file_before_changing_one(
    runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from genpolicy.cli import main

    make_report(runs, tmp_path / "report")
    good = tmp_path / "good.md"
    good.write_text("a\n<!-- results:x -->\nold\n<!-- /results:x -->\n")
    before = good.read_text()
    results = str(tmp_path / "report" / "results.json")
    for bad in (tmp_path / "missing.md", tmp_path):
        assert main(["tables", results, "--name", "x", "--update", str(good), str(bad)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"--update {bad}: cannot read it (" in err[0]
        assert good.read_text() == before
    assert main(["tables", results, "--name", "x", "--update", str(good)]) == 0
    assert "| gmpo |" in good.read_text() and "old" not in good.read_text()
