"""The sweep runner: spec checks, grid expansion, skip/resume, kill -9 of the driver, Ray."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from helpers import ROOT
from helpers import TINY_SWEEP as TINY

from genpolicy.cli import main
from genpolicy.errors import GenpolicyError
from genpolicy.experiments.local import eta_seconds, run_local
from genpolicy.experiments.ray_backend import ray_available, run_ray
from genpolicy.experiments.spec import expand, load_spec, parse_spec, trial_config
from genpolicy.experiments.trial import trial_state
from genpolicy.training import checkpoint
from genpolicy.training.config import load as load_config


def toy_spec(out: Path, **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "toy",
        "out": str(out),
        "bases": {"gmpo": "toy-gmpo", "iql": "toy-iql"},
        "set": dict(TINY),
        "grid": {"algo": ["gmpo", "iql"], "seed": [0, 1]},
    }
    spec.update(extra)
    return spec


def write_spec(path: Path, spec: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(spec))
    return path


def eval_rows(run_dir: Path) -> list[dict[str, Any]]:
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x]
    return [
        {k: v for k, v in r.items() if k != "eval/seconds"} for r in rows if r["kind"] == "eval"
    ]


# -- spec and expansion ---------------------------------------------------------------------
def test_expand_ids_groups_and_order(tmp_path: Path) -> None:
    spec = parse_spec(
        toy_spec(
            tmp_path,
            grid={
                "algo": ["gmpo", "iql"],
                "seed": [0, 1],
                "variant": {"base": {}, "fast": {"algo.lr": 0.003}},
            },
        )
    )
    trials = expand(spec)
    assert len(trials) == 8
    assert [t.seed for t in trials[:4]] == [0] * 4  # seed-major: a one-seed table comes first
    ids = [t.id for t in trials]
    assert "gmpo-fast-s0" in ids and "iql-base-s1" in ids and len(set(ids)) == 8
    fast = next(t for t in trials if t.id == "gmpo-fast-s0")
    assert fast.group == "gmpo fast" and fast.overrides["algo.lr"] == 0.003
    cfg = trial_config(spec, fast)
    assert cfg.algo.lr == 0.003 and cfg.train.seed == 0 and cfg.train.steps == 300
    assert Path(cfg.train.out_dir) == tmp_path / "runs" and cfg.train.run_name == fast.id


def test_order_changes_the_run_order_not_the_ids(tmp_path: Path) -> None:
    base = toy_spec(tmp_path, grid={"seed": [0, 1], "algo": ["gmpo", "iql"]})
    default = [t.id for t in expand(parse_spec(base))]
    reordered = [t.id for t in expand(parse_spec({**base, "order": ["algo", "seed"]}))]
    assert default == ["gmpo-s0", "iql-s0", "gmpo-s1", "iql-s1"]
    assert reordered == ["gmpo-s0", "gmpo-s1", "iql-s0", "iql-s1"]
    with pytest.raises(GenpolicyError, match="every grid axis"):
        parse_spec({**base, "order": ["algo"]})


def test_dotted_axis_and_dataset_shorthand(tmp_path: Path) -> None:
    spec = parse_spec(
        {
            "base": "toy-gmpo",
            "out": str(tmp_path),
            "grid": {"dataset": ["toy-bandit"], "algo.beta": [1.0, 20.0]},
        }
    )
    trials = expand(spec)
    assert [t.id for t in trials] == ["toy-bandit-beta=1.0-s0", "toy-bandit-beta=20.0-s0"]
    assert trials[0].group == "beta=1.0" and trials[0].dataset == "toy-bandit"


def test_set_values_name_the_trial_labels(tmp_path: Path) -> None:
    """A string override may name {seed}/{dataset}/{algo}: e.g. init_from per seed."""
    spec = parse_spec(
        {
            "base": "toy-gmpg",
            "out": str(tmp_path),
            "set": {"train.init_from": "pre/runs/{dataset}-s{seed}", "algo.beta": 2.0},
            "grid": {"seed": [0, 1], "dataset": {"toy": {"data.dataset": "toy-bandit"}}},
        }
    )
    trials = expand(spec, check=False)
    assert [t.overrides["train.init_from"] for t in trials] == [
        "pre/runs/toy-s0",
        "pre/runs/toy-s1",
    ]
    assert trials[0].overrides["algo.beta"] == 2.0


def test_per_dataset_base_configs(tmp_path: Path) -> None:
    spec = parse_spec(
        {
            "out": str(tmp_path),
            "bases": {
                "gmpo": "published/gmpo/linear/{dataset}",
                "iql": "published/iql/{dataset}",
            },
            "grid": {
                "algo": ["gmpo", "iql"],
                "dataset": {
                    "hopper-medium-replay": {"data.dataset": "toy-bandit"},
                    "walker2d-medium-replay": {"data.dataset": "toy-bandit"},
                },
            },
        }
    )
    trials = expand(spec)
    assert trials[0].base == "published/gmpo/linear/hopper-medium-replay"
    assert trials[3].base == "published/iql/walker2d-medium-replay"
    assert trial_config(spec, trials[0]).algo.beta == 6.0  # hopper-medium-replay's published beta
    bad = parse_spec({"out": str(tmp_path), "base": "{nope}", "grid": {"seed": [0]}})
    with pytest.raises(GenpolicyError, match="only"):
        expand(bad)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"base": "toy-gmpo", "grid": {"seed": []}}, "zero trials"),
        ({"base": "toy-gmpo", "grdi": {}}, "unknown sweep spec key"),
        ({"grid": {"seed": [0]}}, "needs 'base'"),
        ({"bases": {"gmpo": "toy-gmpo"}, "grid": {"algo": ["sac"]}}, "no config in 'bases'"),
        ({"base": "toy-gmpo", "grid": {"algo.nope": [1]}}, "algo.nope"),
        ({"base": "toy-gmpo", "grid": {"algo.name": ["sac"]}}, "sac"),
        ({"base": "toy-gmpo", "grid": {"dataset": ["no-such-data-v9"]}}, "no-such-data-v9"),
        ({"base": "toy-gmpo", "grid": {"seed": 3}}, "must be a list"),
        ({"base": "toy-gmpo", "grid": {"seed": [0, 0]}}, "lists 0 more than once"),
        (
            {"base": "toy-gmpo", "grid": {"v": {"a": 1}}},
            r"e\.g\. \{cosine: \{algo\.lr_schedule: cosine\}\}$",
        ),
        ({"base": "toy-gmpo", "search": {"space": {"algo.beta": {"normal": [0, 1]}}}}, "space"),
    ],
)
def test_bad_specs_fail_with_one_line(spec: dict[str, Any], message: str, tmp_path: Path) -> None:
    with pytest.raises(GenpolicyError, match=message) as info:
        expand(parse_spec({"out": str(tmp_path), **spec}))
    assert "\n" not in str(info.value)


def test_cli_errors_and_dry_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_spec(tmp_path / "s.yaml", toy_spec(tmp_path / "out"))
    assert main(["sweep", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "4 trial(s)" in out and "gmpo-s0" in out and "[new]" in out
    assert not (tmp_path / "out" / "runs").exists()  # a dry run writes nothing
    search = toy_spec(tmp_path / "o2", search={"space": {"algo.beta": {"uniform": [1, 2]}}})
    assert main(["sweep", str(write_spec(tmp_path / "s2.yaml", search))]) == 2
    assert "--backend ray" in capsys.readouterr().err
    assert main(["sweep", str(tmp_path / "missing.yaml")]) == 2
    assert "not found" in capsys.readouterr().err
    # --only keeps the trials whose id matches a pattern, and says so when none does
    assert main(["sweep", str(path), "--dry-run", "--only", "*-s1", "--only", "gmpo-s0"]) == 0
    out = capsys.readouterr().out
    assert "3 trial(s)" in out and "gmpo-s0" in out and "iql-s0" not in out
    assert main(["sweep", str(path), "--only", "sac-*"]) == 2
    assert "matches none of the 4 trial ids" in capsys.readouterr().err


@pytest.mark.slow
def test_device_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--device places every trial (train.device) and, being a free key, leaves finished
    runs made on another device done; a device torch cannot use fails before anything runs."""
    path = write_spec(tmp_path / "s.yaml", toy_spec(tmp_path / "out"))
    assert main(["sweep", str(path), "--device", "tpu9"]) == 2
    assert "not a torch device" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["sweep", str(path), "--device", "cuda"]) == 2
        assert "torch sees no CUDA device" in capsys.readouterr().err
    assert main(["sweep", str(path), "--device", "cpu", "--backend", "ray"]) == 2
    assert "--gpus-per-trial" in capsys.readouterr().err
    assert not (tmp_path / "out" / "runs").exists()
    spec = load_spec(path)
    trial = expand(spec)[0]
    assert trial_config(spec, trial, 1, "cuda:1").train.device == "cuda:1"
    assert trial_config(spec, trial).train.device == "cpu"  # the spec's own
    spec.grid = {"algo": ["iql"], "seed": [0]}
    assert run_local(spec, expand(spec), workers=1, status_every=0, device="cpu").ok
    assert trial_state(trial_config(spec, expand(spec)[0], 1, "cuda")) == "done"
    # extra candidate evaluations change no result: asking for them leaves the run done
    spec.grid = {"algo": ["gmpo"], "seed": [0]}
    assert run_local(spec, expand(spec), workers=1, status_every=0).ok
    spec.set["train.eval_act_candidates"] = [4]
    assert trial_state(trial_config(spec, expand(spec)[0])) == "done"
    spec.set["train.eval_act_steps"] = [2]  # a key that is not free: a different config
    with pytest.raises(GenpolicyError, match=r"different config \(train.eval_act_steps\)"):
        trial_state(trial_config(spec, expand(spec)[0]))


def test_only_needs_just_the_chosen_trials_datasets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = toy_spec(tmp_path / "out")
    spec["grid"]["dataset"] = {"toy": {}, "gone": {"data.dataset": "no-such-dataset-v9"}}
    path = write_spec(tmp_path / "s.yaml", spec)
    assert main(["sweep", str(path), "--dry-run"]) == 2
    assert "no-such-dataset-v9" in capsys.readouterr().err
    assert main(["sweep", str(path), "--dry-run", "--only", "*-toy-*"]) == 0
    assert "4 trial(s)" in capsys.readouterr().out


@pytest.mark.slow
def test_a_branch_waits_for_the_run_it_starts_from(tmp_path: Path) -> None:
    """A trial whose train.init_from lies in another trial's run folder starts after that
    trial ends, even listed first with a worker free; its curve carries the shared part."""
    out = tmp_path / "out"
    point = str(out / "runs" / "long-s0" / "checkpoints" / "step100")
    spec = parse_spec(
        toy_spec(
            out,
            bases={"branch": "toy-gmpo", "long": "toy-gmpo"},
            grid={
                "algo": {
                    "branch": {"train.init_from": point, "train.init_history": True},
                    "long": {"train.checkpoint_at": [100]},
                },
                "seed": [0],
            },
        )
    )
    trials = expand(spec)
    assert [t.id for t in trials] == ["branch-s0", "long-s0"]
    with pytest.raises(GenpolicyError, match="branch-s0 starts from trial long-s0's run"):
        run_ray(spec, trials)  # Ray Tune runs trials in no set order
    log = io.StringIO()
    outcome = run_local(spec, trials, workers=2, status_every=0, stream=log)
    assert outcome.ok and outcome.done == ["long-s0", "branch-s0"]
    assert outcome.steps == 300 + 200  # the branch's 100 loaded steps are not counted as run
    assert "2 trial(s) finished, 0 failed; 500 updates in" in log.getvalue().splitlines()[-1]
    done = {ln.split()[1]: ln for ln in log.getvalue().splitlines() if ln.startswith("done ")}
    assert "300 steps (200 trained here at " in done["branch-s0"]  # its rate is its own
    assert "300 steps at " in done["long-s0"]
    long_rows, branch_rows = (eval_rows(out / "runs" / f"{a}-s0") for a in ("long", "branch"))
    assert [r["step"] for r in branch_rows] == [100, 200, 300]
    assert branch_rows[0] == long_rows[0]


def test_a_row_made_a_branch_keeps_its_runs_that_trained_in_full(tmp_path: Path) -> None:
    """A row that becomes a branch ({out} in its init_from) counts its finished runs that
    trained from scratch as done; another change, or a checkpoint outside the sweep, is
    still refused."""
    out = tmp_path / "out"

    def spec_with(branch: dict[str, Any]) -> Any:
        grid = {"algo": {"long": {"train.checkpoint_at": [100]}, "branch": branch}, "seed": [0]}
        return parse_spec(
            toy_spec(out, bases={"branch": "toy-gmpo", "long": "toy-gmpo"}, grid=grid)
        )

    before = spec_with({})
    full = next(t for t in expand(before) if t.id == "branch-s0")
    run = out / "runs" / "branch-s0"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump(trial_config(before, full).to_dict()))
    (run / "summary.json").write_text(json.dumps({"steps": 300, "interrupted": False}))
    point = "{out}/runs/long-s0/checkpoints/step100"
    after = spec_with({"train.init_from": point, "train.init_history": True})
    branch = next(t for t in expand(after) if t.id == "branch-s0")
    cfg = trial_config(after, branch)
    assert cfg.train.init_from == f"{out}/runs/long-s0/checkpoints/step100"
    assert trial_state(cfg) == "done"
    changed = spec_with({"train.init_from": point, "algo.lr": 0.01})
    with pytest.raises(GenpolicyError, match="different config"):
        trial_state(trial_config(changed, next(t for t in expand(changed) if t.id == "branch-s0")))
    outside = spec_with({"train.init_from": str(tmp_path / "elsewhere" / "step100")})
    with pytest.raises(GenpolicyError, match=r"different config \(train.init_from\)"):
        trial_state(trial_config(outside, next(t for t in expand(outside) if t.id == "branch-s0")))


def _wait(cond: Any, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.slow
def test_kill_9_of_the_driver_then_rerun_matches_an_uninterrupted_sweep(tmp_path: Path) -> None:
    """The driver is killed with SIGKILL mid-trial; its workers die with it; the rerun runs
    only what was missing and every trial's evaluations equal those of a clean sweep."""
    grid = {"algo": ["gmpo", "iql"], "seed": [0, 1]}
    spec_set = {**TINY, "train.steps": 400, "train.eval_every": 200}
    clean = parse_spec(toy_spec(tmp_path / "clean", grid=grid, set=spec_set))
    assert run_local(clean, expand(clean), workers=2, status_every=0).ok

    path = write_spec(tmp_path / "k.yaml", toy_spec(tmp_path / "killed", grid=grid, set=spec_set))
    runs = tmp_path / "killed" / "runs"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "genpolicy.cli", "sweep", str(path), "--workers", "1"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # kill once the first trial is finished and the second has a checkpoint but no summary
    first, second = runs / "gmpo-s0", runs / "iql-s0"
    _wait(
        lambda: (first / "summary.json").exists() and checkpoint.exists(second, "last"),
        120,
        "a finished trial and a half-finished one",
    )
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    lock = runs / ".iql-s0.lock"
    _wait(lambda: _unlocked(lock), 20, "the orphaned worker to die with its driver")
    assert not (second / "summary.json").exists()

    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "1 already done" in rerun.stdout and "iql-s0 resumes" in rerun.stdout
    for t in expand(clean):
        assert eval_rows(runs / t.id) == eval_rows(tmp_path / "clean" / "runs" / t.id), t.id


@pytest.mark.slow
def test_sigterm_to_the_driver_checkpoints_the_workers(tmp_path: Path) -> None:
    """`kill PID` of the driver alone (no Ctrl-C reaches the workers): the driver passes each
    worker one Ctrl-C, they checkpoint and write an interrupted summary, the driver exits
    130, and a rerun resumes."""
    spec_set = {**TINY, "train.steps": 100_000, "train.eval_every": 0}
    grid = {"algo": ["iql"], "seed": [0]}
    path = write_spec(tmp_path / "t.yaml", toy_spec(tmp_path / "out", grid=grid, set=spec_set))
    run = tmp_path / "out" / "runs" / "iql-s0"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "genpolicy.cli", "sweep", str(path), "--workers", "1"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    _wait(lambda: checkpoint.exists(run, "last"), 120, "the trial's first checkpoint")
    os.kill(proc.pid, signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out.decode()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["interrupted"] and 0 < summary["steps"] < 100_000
    assert checkpoint.load(run / "checkpoints" / "last")["step"] == summary["steps"]


def test_sigterm_to_the_driver_checkpoints_a_population(tmp_path: Path) -> None:
    """The same with --population 2: the pack's process gets one Ctrl-C, both members
    checkpoint and write interrupted summaries, and the driver exits 130."""
    spec_set = {**TINY, "train.steps": 100_000, "train.eval_every": 0}
    grid = {"algo": ["iql"], "seed": [0, 1]}
    path = write_spec(tmp_path / "t.yaml", toy_spec(tmp_path / "out", grid=grid, set=spec_set))
    runs = [tmp_path / "out" / "runs" / f"iql-s{s}" for s in (0, 1)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [
        sys.executable,
        "-m",
        "genpolicy.cli",
        "sweep",
        str(path),
        "--population",
        "2",
        "--workers",
        "1",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    _wait(lambda: all(checkpoint.exists(r, "last") for r in runs), 120, "the first checkpoints")
    os.kill(proc.pid, signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out.decode()
    steps = set()
    for run in runs:
        summary = json.loads((run / "summary.json").read_text())
        assert summary["interrupted"] and 0 < summary["steps"] < 100_000
        assert checkpoint.load(run / "checkpoints" / "last")["step"] == summary["steps"]
        assert (run / "trial.json").is_file()
        steps.add(summary["steps"])
    assert len(steps) == 1  # the members stopped after the same update


def _unlocked(lock: Path) -> bool:
    import fcntl

    with lock.open("a+") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        return True


@pytest.mark.slow
@pytest.mark.skipif(not ray_available(), reason="ray is not installed (genpolicy[ray])")
def test_ray_backend_gives_the_local_metrics(tmp_path: Path) -> None:
    from genpolicy.experiments.ray_backend import run_ray

    grid = {"algo": ["gmpo", "iql"], "seed": [0]}
    local = parse_spec(toy_spec(tmp_path / "local", grid=grid))
    assert run_local(local, expand(local), workers=2, status_every=0).ok
    ray_spec = load_spec(write_spec(tmp_path / "r.yaml", toy_spec(tmp_path / "ray", grid=grid)))
    results = run_ray(ray_spec, expand(ray_spec), workers=2)
    assert sorted(results) == ["gmpo-s0", "iql-s0"]
    for tid in results:
        assert results[tid]["error"] is None
        rows = eval_rows(tmp_path / "ray" / "runs" / tid)
        assert rows == eval_rows(tmp_path / "local" / "runs" / tid)
        assert results[tid]["metrics"]["eval/score_mean"] == rows[-1]["eval/score_mean"]


def test_ray_backend_without_ray_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    path = write_spec(tmp_path / "s.yaml", toy_spec(tmp_path / "out"))
    assert main(["sweep", str(path), "--backend", "ray"]) == 2
    err = capsys.readouterr().err
    assert "genpolicy[ray]" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "runs").exists()


REPO = Path(__file__).resolve().parents[2]


# the learning-curves grid's row per shipped algorithm (the bounded GMPG phase is shipped)
CURVE_ROWS = {
    "bc": "bc",
    "iql": "iql",
    "gmpo": "gmpo",
    "gmpg": "gmpg-adv-clip",
    "gmpg-published": "gmpg",
    "gtp": "gtp",
}
CURVE_BRANCH_POINTS = [19000, 49000]  # the checkpoints the grid's published GMPG row keeps


@pytest.mark.parametrize("algo", sorted(CURVE_ROWS))
@pytest.mark.parametrize("task", ["hopper", "walker2d", "halfcheetah"])
def test_cpu_medium_replay_configs_are_the_curves_rows(
    task: str, algo: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cpu/<task>-medium-replay-<algo> train what the learning-curves grid
    measured (the same algo, model, critic, data and budget); only the bookkeeping differs:
    where the run is written, GMPO, GTP and the bounded GMPG evaluating one sample with the
    shipped best of 16 by Q as an extra series, GMPG's published row keeping its branch
    points, and its bounded row (the shipped GMPG) branching the published row's
    pretraining."""
    monkeypatch.chdir(REPO)
    rows, branch_points = CURVE_ROWS, CURVE_BRANCH_POINTS
    spec = load_spec(REPO / "benchmarks" / "sweeps" / "curves-medium-replay.yaml")
    (trial,) = [
        t for t in expand(spec, check=False) if t.id == f"{task}-medium-replay-{rows[algo]}-s0"
    ]
    curve = trial_config(spec, trial).to_dict()
    shipped = load_config(f"cpu/{task}-medium-replay-{algo}").to_dict()
    if algo in ("gmpo", "gtp", "gmpg"):
        assert curve["train"].pop("eval_act_candidates") == [16]
        assert shipped["train"].pop("eval_act_candidates") == []
        assert curve["algo"]["act"].pop("candidates") == 1
        assert shipped["algo"]["act"].pop("candidates") == 16
    if algo == "gmpg-published":  # the sweep keeps its branch points; a user's run need not
        assert curve["train"].pop("checkpoint_at") == branch_points
        assert shipped["train"].pop("checkpoint_at") == []
    if algo == "gmpg":  # the sweep branches the published row at 49k; a user trains in full
        assert curve["train"].pop("init_from").endswith("-gmpg-s0/checkpoints/step49000")
        assert shipped["train"].pop("init_from") == ""
        assert curve["train"].pop("init_history") and not shipped["train"].pop("init_history")
    for key in ("out_dir", "run_name", "tensorboard"):
        curve["train"].pop(key), shipped["train"].pop(key)
    assert shipped == curve


def test_population_packs_the_seeds_of_one_config(tmp_path: Path) -> None:
    """--population 2: each algorithm's two seeds train in one process (gmpo, iql), with the
    lone runs' evaluations; a rerun finds them done; a bad value fails before anything runs."""
    small = dict(TINY, **{"train.steps": 100, "train.eval_every": 50, "train.eval_episodes": 50})
    packed = parse_spec(toy_spec(tmp_path / "packed", set=small))
    lone = parse_spec(toy_spec(tmp_path / "lone", set=small))
    log = io.StringIO()
    assert run_local(packed, expand(packed), workers=1, status_every=0, stream=log, population=2).ok
    assert log.getvalue().count("population of 2") == 2
    assert run_local(lone, expand(lone), workers=2, status_every=0).ok
    for trial in expand(packed):
        got = eval_rows(tmp_path / "packed" / "runs" / trial.id)
        want = eval_rows(tmp_path / "lone" / "runs" / trial.id)
        assert [r["step"] for r in got] == [50, 100]
        for a, b in zip(got, want, strict=True):
            assert a["eval/return_mean"] == pytest.approx(b["eval/return_mean"], abs=1e-3)
        assert (tmp_path / "packed" / "runs" / trial.id / "trial.json").is_file()
        assert trial_state(trial_config(packed, trial)) == "done"
    path = write_spec(tmp_path / "s.yaml", toy_spec(tmp_path / "out"))
    assert main(["sweep", str(path), "--population", "0"]) == 2
    assert not (tmp_path / "out" / "runs").exists()


def test_population_packs_a_grid_over_beta_and_lr(tmp_path: Path) -> None:
    """--population 4 packs a grid over algo.beta and algo.lr into one process; each member
    evaluates as its lone run does and keeps its own settings in its folder."""
    small = dict(TINY, **{"train.steps": 60, "train.eval_every": 60, "train.eval_episodes": 50})
    grid = {"algo": ["gmpo"], "algo.beta": [1.0, 20.0], "algo.lr": [0.0003, 0.001]}
    packed = parse_spec(toy_spec(tmp_path / "packed", set=small, grid=grid))
    lone = parse_spec(toy_spec(tmp_path / "lone", set=small, grid=grid))
    log = io.StringIO()
    assert run_local(packed, expand(packed), workers=1, status_every=0, stream=log, population=4).ok
    assert log.getvalue().count("population of 4") == 1
    assert run_local(lone, expand(lone), workers=2, status_every=0).ok
    returns = set()
    for trial in expand(packed):
        run = tmp_path / "packed" / "runs" / trial.id
        got, want = eval_rows(run), eval_rows(tmp_path / "lone" / "runs" / trial.id)
        assert got[-1]["eval/return_mean"] == pytest.approx(want[-1]["eval/return_mean"], abs=1e-3)
        returns.add(round(got[-1]["eval/return_mean"], 4))
        saved = yaml.safe_load((run / "config.yaml").read_text())["algo"]
        assert (saved["beta"], saved["lr"]) == (trial.params["algo.beta"], trial.params["algo.lr"])
    assert len(returns) > 1  # the members learned different things


def test_population_packs_are_spread_over_the_workers(tmp_path: Path) -> None:
    """--population 4 with 2 workers: 4 seeds train as two populations of 2, not one of 4
    beside an idle worker; with 1 worker they are one population of 4."""
    small = dict(TINY, **{"train.steps": 20, "train.eval_every": 0})
    grid = {"algo": ["gmpo"], "seed": [0, 1, 2, 3]}
    for workers, want in ((2, "population of 2"), (1, "population of 4")):
        spec = parse_spec(toy_spec(tmp_path / f"w{workers}", set=small, grid=grid))
        log = io.StringIO()
        assert run_local(
            spec, expand(spec), workers=workers, status_every=0, stream=log, population=4
        ).ok
        assert log.getvalue().count(want) == 4 // int(want.split()[-1])


@pytest.mark.parametrize(
    "spec_file", sorted((ROOT / "benchmarks" / "sweeps").glob("*.yaml")), ids=lambda p: p.stem
)
def test_every_benchmark_spec_builds_each_trial_config(spec_file: Path) -> None:
    """A benchmark's sweep spec names only keys, configs and algorithms that exist: every
    trial's config builds (the datasets are not looked up: they live outside the repo)."""
    spec = load_spec(spec_file)
    trials = expand(spec, check=False)
    assert trials
    for trial in trials:
        trial_config(spec, trial)


def test_status_lines_carry_the_steps_and_an_eta(tmp_path: Path) -> None:
    small = dict(TINY, **{"train.steps": 200, "train.eval_every": 0, "train.log_every": 10})
    spec = parse_spec(toy_spec(tmp_path / "sw", set=small))
    log = io.StringIO()
    assert run_local(spec, expand(spec), workers=1, status_every=0.01, stream=log).ok
    status = [x for x in log.getvalue().splitlines() if x.startswith("status: ")]
    assert status and all(" steps/s, ETA " in x for x in status)
    assert any(re.search(r"ETA \d", x) for x in status)  # timed once a step was logged


def test_the_eta_times_each_algorithm_at_its_own_rate() -> None:
    spent = {"bc": (1000, 1.0), "gmpo": (100, 10.0)}  # 1000 and 10 steps per worker-second
    left = {"bc": 2000, "gmpo": 100, "iql": 110}  # iql: not timed yet, 1100 / 11 s overall
    assert eta_seconds(spent, left, workers=2) == pytest.approx((2.0 + 10.0 + 1.1) / 2)
    # one rate for all of them would say (2210 / 100 steps/s) / 2 = 11.05 s
    assert eta_seconds({"bc": (0, 3.0)}, left, workers=1) is None  # no step yet
    assert eta_seconds(spent, {}, workers=1) == 0.0
