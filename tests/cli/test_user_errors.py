"""Every user error of the command line is one line (``genpolicy: error: ...``, exit code 2)
that names the thing and the fix, and is found before any training: nothing is written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import make_arrays
from helpers import tiny

from genpolicy.cli import main
from genpolicy.training.trainer import fit


def _one_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert len(err) == 1 and err[0].startswith("genpolicy: error: "), err
    return err[0]


def _config(tmp_path: Path, **over: Any) -> str:
    """A tiny toy-bandit run config saved as YAML; its runs go to tmp_path/runs."""
    cfg = tiny("bc", tmp_path / "runs", **{"train.steps": 4, "train.eval_every": 0, **over})
    path = tmp_path / "run.yaml"
    cfg.save(path)
    return str(path)


def _run_folders(tmp_path: Path) -> list[Path]:
    """Run folders under tmp_path/runs (the lock files beside them do not count)."""
    return [p for p in (tmp_path / "runs").glob("*") if p.is_dir()]


def _npz(path: Path, env_id: str | None) -> str:
    arrays = make_arrays(n_episodes=4, length=20, obs_dim=2, act_dim=2)
    extra: dict[str, Any] = {"env_id": np.array(env_id)} if env_id else {}
    np.savez(path, **arrays, **extra)
    return str(path)


BAD_SETTINGS = [
    ("critic.lr=-1", "critic.lr is a learning rate and must be > 0"),
    ("algo.lr=0", "algo.lr must be > 0"),
    ("model.steps=0", "model.steps (the sampler's steps) must be >= 1"),
    ("train.device=banana", "train.device='banana' is not a torch device"),
    ("train=5", "config section 'train' must be a mapping, got '5'; set its keys"),
]
if not torch.cuda.is_available():
    BAD_SETTINGS.append(("train.device=cuda", "train.device='cuda': this torch build"))


@pytest.mark.parametrize(("setting", "message"), BAD_SETTINGS)
def test_bad_settings_are_one_line_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setting: str, message: str
) -> None:
    assert main(["train", _config(tmp_path), "--set", setting]) == 2
    assert message in _one_error(capsys)
    assert not _run_folders(tmp_path)


def test_environment_is_made_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _config(tmp_path)
    good = _npz(tmp_path / "plain.npz", None)
    data = ["--set", f"data.dataset={good}", "--set", "data.env_id=NoSuchEnv-v0"]
    assert main(["train", cfg, *data]) == 2
    line = _one_error(capsys)
    assert "data.env_id='NoSuchEnv-v0' cannot be made" in line and "set data.env_id" in line
    bad = _npz(tmp_path / "bad-env.npz", "NoSuchEnv-v0")
    assert main(["train", cfg, "--set", f"data.dataset={bad}"]) == 2
    assert "'NoSuchEnv-v0' (named by the dataset) cannot be made" in _one_error(capsys)
    assert main(["train", cfg, "--set", "data.env_id=Hopper-v5"]) == 2  # the toy has its own
    assert "does not apply to the built-in dataset" in _one_error(capsys)
    assert not list((tmp_path / "runs").glob("*/metrics.jsonl"))  # no run was started
    # a dataset without a known environment trains without evaluation, and says so
    assert main(["train", cfg, "--set", f"data.dataset={good}"]) == 0
    err = capsys.readouterr().err
    assert "names no environment: training without evaluation; set data.env_id" in err


def test_evaluate_asks_for_an_environment_that_fits_the_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Evaluating a run whose data named no environment asks for --env, and --env must fit
    the policy's observations and actions."""
    pytest.importorskip("gymnasium")
    arrays = make_arrays(n_episodes=4, length=20, obs_dim=3, act_dim=1)
    data = tmp_path / "pendulum-like.npz"
    np.savez(data, **arrays)
    cfg = _config(tmp_path, **{"data.dataset": str(data)})
    assert main(["train", cfg]) == 0  # no environment: trains without evaluation
    run = _run_folders(tmp_path)[0]
    capsys.readouterr()
    assert main(["evaluate", str(run), "--episodes", "1"]) == 2
    line = _one_error(capsys)
    assert f"checkpoint {run} names no environment" in line and "--env Hopper-v5" in line
    assert main(["evaluate", str(run), "--episodes", "1", "--env", "Hopper-v5"]) == 2
    assert "--env Hopper-v5 (env_id): Hopper-v5 has 11-dim observations" in _one_error(capsys)
    assert main(["evaluate", str(run), "--episodes", "1", "--env", "toy-bandit"]) == 2
    assert "toy-bandit has 2-dim observations, the policy 3" in _one_error(capsys)
    assert main(["evaluate", str(run), "--episodes", "2", "--env", "Pendulum-v1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["env_id"] == "Pendulum-v1" and out["episodes"] == 2


def test_dataset_info_refuses_an_unknown_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _npz(tmp_path / "bad-env.npz", "NoSuchEnv-v0")
    assert main(["dataset", "info", bad]) == 2
    assert "'NoSuchEnv-v0', which Gymnasium does not know" in _one_error(capsys)
    assert main(["dataset", "info", bad, "--no-env-check"]) == 0


def test_a_text_file_named_npz_is_not_an_npz(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "text.npz"
    path.write_text("hello\n")
    assert main(["dataset", "info", str(path)]) == 2
    assert "not an npz file" in _one_error(capsys)


def test_dataset_make_refuses_a_non_hdf5_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.txt"
    make = ["dataset", "make", "--env", "Hopper-v5", "--policy", "random", "--size", "5"]
    assert main([*make, "--out", str(out)]) == 2
    assert "writes HDF5" in _one_error(capsys) and not out.exists()


@pytest.mark.parametrize("n", ["-3", "0"])
def test_speed_needs_a_positive_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], n: str
) -> None:
    assert main(["train", _config(tmp_path), "--speed", n]) == 2
    assert "--speed N times N updates and must be >= 1" in _one_error(capsys)
    assert not (tmp_path / "runs").exists()


def test_output_folder_must_be_writable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["train", _config(tmp_path), "--set", f"train.out_dir={blocker}/runs"]) == 2
    assert "cannot write the output folder" in _one_error(capsys)
    demo = ["demo", "--steps", "1", "--out", f"{blocker}/demo"]
    assert main(demo) == 2
    assert "cannot write" in _one_error(capsys)


def test_init_from_must_exist(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nothing"
    assert main(["train", _config(tmp_path), "--set", f"train.init_from={missing}"]) == 2
    assert "train.init_from=" in _one_error(capsys)
    assert not _run_folders(tmp_path)


def test_resume_guards(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config(tmp_path)
    assert main(["train", cfg, "--resume", "--overwrite"]) == 2
    assert "pass only one of them" in _one_error(capsys)
    assert main(["train", cfg]) == 0
    run = next(p for p in (tmp_path / "runs").iterdir() if p.is_dir())
    capsys.readouterr()
    assert main(["train", cfg, "--resume", "--set", "train.steps=2"]) == 2
    assert "past train.steps=2; set train.steps=4 or more" in _one_error(capsys)
    # resuming a finished run changes nothing on disk and says it is finished
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in run.rglob("*") if p.is_file()}
    assert main(["train", str(run / "config.yaml"), "--resume"]) == 0
    assert "is finished (4 steps); nothing to do" in capsys.readouterr().out
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in run.rglob("*") if p.is_file()}
    assert after == before
    assert json.loads((run / "summary.json").read_text())["steps_per_s"] > 0


def test_a_run_that_ends_in_pretraining_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    over = [
        "train.steps=2",
        "train.eval_every=0",
        "algo.pretrain_steps=5",
        f"train.out_dir={tmp_path / 'runs'}",
        "train.progress=false",
        "train.tensorboard=false",
    ]
    assert main(["train", "toy-gmpg", *[x for o in over for x in ("--set", o)]]) == 0
    err = capsys.readouterr().err
    assert "train.steps=2 <= algo.pretrain_steps=5: the run ends in gmpg's pretraining" in err


def test_resume_without_last_points_to_a_way_that_keeps_the_checkpoints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run whose ``last`` checkpoint is gone cannot resume; the error names the checkpoints
    it still holds and how to start from the newest without --overwrite (which deletes
    them), and nothing in the folder changes."""
    cfg = _config(tmp_path, **{"train.checkpoint_at": [2]})
    assert main(["train", cfg]) == 0
    run = _run_folders(tmp_path)[0]
    ckpts = run / "checkpoints"
    for f in ckpts.glob("last.*"):
        f.unlink()
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert main(["train", str(run / "config.yaml"), "--resume"]) == 2
    line = _one_error(capsys)
    assert "no checkpoint 'last' (it holds step2, best)" in line
    assert f"--set train.init_from={ckpts / 'step2'} --set train.init_history=true" in line
    assert "--overwrite" not in line
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
    # the suggested settings work: a new run starts from step2 and trains on to step 6
    suggested = line.split("from one: ")[1].replace("NEW", "again").split()
    assert main(["train", str(run / "config.yaml"), *suggested, "--set", "train.steps=6"]) == 0
    assert json.loads((run.parent / "again" / "summary.json").read_text())["steps"] == 6
    for f in ckpts.glob("*"):
        f.unlink()
    assert main(["train", str(run / "config.yaml"), "--resume"]) == 2
    assert "it has no checkpoint; drop --resume and pass --overwrite" in _one_error(capsys)
    gone = ["--set", f"train.run_name={run.name}-never-made"]
    assert main(["train", str(run / "config.yaml"), "--resume", *gone]) == 2
    assert "there is no such run folder; drop --resume" in _one_error(capsys)


def test_resume_of_a_read_only_run_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _config(tmp_path, **{"train.steps": 2})
    assert main(["train", cfg]) == 0
    capsys.readouterr()
    import tempfile

    real = tempfile.NamedTemporaryFile

    def read_only(*args: Any, **kwargs: Any) -> Any:  # what chmod a-w does for a non-root user
        if "runs" in str(kwargs.get("dir", "")):
            raise PermissionError(13, "Permission denied")
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", read_only)
    assert main(["train", cfg, "--resume", "--set", "train.steps=4"]) == 2
    line = _one_error(capsys)
    assert "cannot resume" in line and "Permission denied" in line and "writable" in line


def test_losing_write_permission_mid_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from genpolicy.training import checkpoint

    real = checkpoint.save
    calls = []

    def flaky(path: Any, payload: Any) -> Any:
        calls.append(path)
        if len(calls) > 1:  # the first checkpoint is written, then the folder turns read-only
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, payload)

    monkeypatch.setattr(checkpoint, "save", flaky)
    cfg = _config(tmp_path, **{"train.steps": 12, "train.checkpoint_every": 3})
    assert main(["train", cfg]) == 2
    line = _one_error(capsys)
    assert "Permission denied" in line and "the last checkpoint is" in line


def test_evaluate_device_and_checkpoint_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    res = fit(tiny("bc", tmp_path / "runs", **{"train.steps": 2, "train.eval_every": 0}))
    if not torch.cuda.is_available():
        assert main(["evaluate", str(res.run_dir), "--device", "cuda"]) == 2
        assert "--device='cuda'" in _one_error(capsys)
    assert main(["evaluate", str(res.run_dir), "--episodes", "2"]) == 0
    out = capsys.readouterr().out
    result = json.loads(out[out.index("{") :])
    assert result["checkpoint_file"] == str(res.run_dir / "checkpoints" / "last.json")


def test_nan_message_names_only_a_checkpoint_that_exists(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    over = ["--set", "algo.lr=1e12", "--set", "train.log_every=1"]
    assert main(["train", _config(tmp_path, **{"train.checkpoint_every": 0}), *over]) == 2
    line = _one_error(capsys)
    assert "non-finite loss" in line and "no checkpoint was written" in line
    assert "last.json" not in line and "resume" not in line


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"", "is empty; write its `key: value` settings into it"),
        (b"# nothing yet\n", "is empty; write its `key: value` settings into it"),
        (b"- 1\n- 2\n", "holds a list, not a mapping; write `key: value` settings"),
        (b"\x00\x01\xff\xfe", "not a text file; pass a YAML or JSON file"),
    ],
)
def test_a_config_file_that_is_not_a_mapping(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: bytes, message: str
) -> None:
    path = tmp_path / "run.yaml"
    path.write_bytes(text)
    for command in (["train", str(path)], ["configs", str(path)]):
        assert main(command) == 2
        line = _one_error(capsys)
        assert str(path) in line and message in line
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("name", ["..", ".", "../elsewhere", "a/../..", "ABSOLUTE"])
def test_run_name_stays_inside_the_output_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    if name == "ABSOLUTE":
        name = str(tmp_path / "elsewhere")
    keep = tmp_path / "keep.txt"  # beside the output folder: --overwrite must not reach it
    keep.write_text("mine")
    over = ["--set", f"train.run_name={name}", "--overwrite"]
    assert main(["train", _config(tmp_path), *over]) == 2
    assert f"train.run_name={name!r} must name a folder inside train.out_dir" in _one_error(capsys)
    assert keep.read_text() == "mine" and not (tmp_path / "runs").exists()


def test_dataset_outputs_that_cannot_be_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("mine")
    (tmp_path / "a-plot.png").write_text("mine too")
    make = ["dataset", "make", "--env", "Hopper-v5", "--policy", "random", "--size", "5"]
    assert main([*make, "--out", f"{blocker}/d.hdf5", "--no-progress"]) == 2
    assert f"cannot write in {blocker} (a file is in the way)" in _one_error(capsys)
    out = ["--out", str(tmp_path / "d.hdf5"), "--no-progress"]
    assert main([*make, *out, "--minari-out", f"{blocker}/minari"]) == 2
    assert "cannot write in" in _one_error(capsys) and not (tmp_path / "d.hdf5").exists()
    for suite in (["make-suite", "--kinds", "medium-replay"], ["make-maze-suite"]):
        assert main(["dataset", *suite, "--out", f"{blocker}/suite"]) == 2
        assert f"cannot write in {blocker}/suite" in _one_error(capsys)
    assert blocker.read_text() == "mine"


def test_make_suite_overwrite_keeps_a_dataset_it_cannot_remake(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from genpolicy.data.make.suite import dataset_name

    mine = tmp_path / "suite" / f"{dataset_name('hopper', 'medium-replay')}.hdf5"
    mine.parent.mkdir()
    mine.write_bytes(b"the user's dataset")
    make = ["dataset", "make-suite", "--out", str(mine.parent), "--tasks", "hopper"]
    no_buffer = ["--kinds", "medium-replay", "--buffers", str(tmp_path / "none"), "--overwrite"]
    assert main([*make, *no_buffer]) == 2
    assert "no SAC replay buffer" in _one_error(capsys)
    assert mine.read_bytes() == b"the user's dataset"


@pytest.mark.parametrize(
    ("text", "message"), [("{", "cannot read it as JSON"), ("{}", "not a JSON list of records")]
)
def test_a_bad_record_file_is_refused_before_any_dataset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    record = tmp_path / "record.json"
    record.write_text(text)
    make = ["dataset", "make-maze-suite", "--sizes", "umaze", "--scale", "1e-5", "--no-progress"]
    assert main([*make, "--out", str(tmp_path / "suite"), "--record", str(record)]) == 2
    line = _one_error(capsys)
    assert f"--record {record}: {message}" in line and "pass a new file name" in line
    assert record.read_text() == text and not list(tmp_path.glob("suite/*.hdf5"))


@pytest.mark.parametrize(
    ("flag", "value"), [("--steps", "0"), ("--steps", "-1"), ("--sample-steps", "0")]
)
def test_demo_needs_positive_step_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str
) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--steps", "1", flag, value, "--out", str(out)]) == 2
    assert f"{flag} must be >= 1, got {value}" in _one_error(capsys)
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--min-seconds", "-1"], "--min-seconds must be >= 0, got -1.0"),
        (["train", "--batches", "0,4"], "--batches must be >= 1, got '0,4'"),
        (["train", "--device", "banana"], "--device='banana' is not a torch device"),
        (["--json", "FOLDER"], "cannot write it (it is a folder)"),
        (["train", "--json", "FILE/x.json"], "cannot write it (Not a directory)"),
    ],
)
def test_bench_refuses_bad_options_before_timing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("mine")
    (tmp_path / "a-plot.png").write_text("mine too")
    swap = {"FOLDER": str(tmp_path), "FILE/x.json": f"{blocker}/x.json"}
    assert main(["bench", *(swap.get(a, a) for a in args), "--quick"]) == 2
    assert message in _one_error(capsys)  # the only line: nothing was timed


def _spec(tmp_path: Path, text: str) -> str:
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    return str(path)


def test_sweep_refuses_an_output_it_cannot_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("mine")
    (tmp_path / "a-plot.png").write_text("mine too")
    spec = _spec(tmp_path, "base: toy-bc\nset: {train.steps: 2}\ngrid: {seed: [0]}\n")
    assert main(["sweep", spec, "--out", str(blocker)]) == 2
    assert f"cannot write in {blocker} (a file is in the way)" in _one_error(capsys)
    assert main(["sweep", spec, "--out", str(tmp_path / "sw"), "--status-every", "-1"]) == 2
    assert "--status-every must be >= 0 (0: no status lines), got -1.0" in _one_error(capsys)
    assert blocker.read_text() == "mine" and not (tmp_path / "sw").exists()


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("base: {algo: {name: bc}}\n", "'base'"),
        ("base: 5\n", "'base'"),
        ("bases: {bc: [toy-bc]}\ngrid: {algo: [bc]}\n", "'bases.bc'"),
    ],
)
def test_sweep_base_must_name_a_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str
) -> None:
    assert main(["sweep", _spec(tmp_path, text), "--dry-run"]) == 2
    line = _one_error(capsys)
    assert f"sweep spec {key} must name a config (a shipped name or a file)" in line
    assert "put overrides for every trial under 'set'" in line


def test_report_metric_that_no_run_logged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fit(tiny("bc", tmp_path / "runs", **{"train.steps": 2, "train.eval_every": 2}))
    out = tmp_path / "report"
    assert main(["report", str(tmp_path / "runs"), "--out", str(out), "--metric", "eval/scor"]) == 2
    line = _one_error(capsys)
    assert "--metric 'eval/scor': no run logged it; choose one of:" in line
    assert "eval/score_mean" in line and not out.exists()


@pytest.mark.parametrize("steps", ["0", "-1"])
def test_loglik_error_steps_must_be_positive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], steps: str
) -> None:
    res = fit(tiny("bc", tmp_path / "runs", **{"train.steps": 2, "train.eval_every": 0}))
    capsys.readouterr()
    assert main(["loglik-error", str(res.run_dir), "--steps", steps, "--states", "2"]) == 2
    line = _one_error(capsys)
    assert f"--steps must be >= 1 (leave it out for algo.grad_steps), got {steps}" in line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "FOLDER"], "maze-plot writes a PNG; name the file FOLDER/maze.png"),
        (["--out", "FOLDER/m.txt"], "maze-plot writes a PNG; name the file FOLDER/m.png"),
        (["--out", "FILE/m.png"], "cannot write in FILE (a file is in the way)"),
        (["--out", "FOLDER/m.png", "--episodes", "-1"], "--episodes must be >= 0, got -1"),
        (["--out", "FOLDER/m.png", "--rollouts", "0"], "--rollouts must be >= 1, got 0"),
        (["--out", "FOLDER/a-plot.png"], "FOLDER/a-plot.png exists; pass --overwrite"),
    ],
)
def test_maze_plot_checks_its_options_before_reading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("mine")
    (tmp_path / "a-plot.png").write_text("mine too")

    def swap(text: str) -> str:
        return text.replace("FOLDER", str(tmp_path)).replace("FILE", str(blocker))

    dataset = str(tmp_path / "maze.hdf5")  # not read: the options are checked first
    assert main(["maze-plot", dataset, *map(swap, args)]) == 2
    assert swap(message) in _one_error(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "a-plot.png"]
    assert (tmp_path / "a-plot.png").read_text() == "mine too"
