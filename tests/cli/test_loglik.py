"""genpolicy loglik-error on a tiny trained GMPG run of the toy bandit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genpolicy.cli import main
from genpolicy.training.config import create
from genpolicy.training.trainer import fit


def test_loglik_error_reports_the_solver_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = create(
        "toy-gmpg",
        {
            "train.steps": 60,
            "algo.pretrain_steps": 50,
            "train.eval_every": 0,
            "train.eval_episodes": 10,
            "train.out_dir": str(tmp_path),
            "train.progress": False,
            "train.tensorboard": False,
        },
    )
    run = fit(cfg).run_dir
    capsys.readouterr()
    args = ["loglik-error", str(run), "--states", "16", "--reference-steps", "64"]
    assert main([*args, "--steps", "2", "--solver", "euler"]) == 0
    coarse = json.loads(capsys.readouterr().out)
    assert main([*args, "--steps", "32"]) == 0
    fine = json.loads(capsys.readouterr().out)
    assert coarse["configured"] == {
        "steps": 2,
        "solver": "euler",
        "divergence": "exact",
        "grid_power": 1.0,
    }
    assert fine["mean_abs_error_nats"] < coarse["mean_abs_error_nats"]
    assert fine["mean_abs_error_nats"] < 0.05
    # another time grid for the configured integration only: its error changes, the
    # reference (equally spaced) does not
    assert main([*args, "--steps", "2", "--solver", "euler", "--grid-power", "2"]) == 0
    quad = json.loads(capsys.readouterr().out)
    assert quad["configured"]["grid_power"] == 2.0
    assert quad["reference_logp_mean"] == pytest.approx(coarse["reference_logp_mean"], abs=1e-5)
    assert quad["mean_abs_error_nats"] != pytest.approx(coarse["mean_abs_error_nats"])
    assert main([*args, "--grid-power", "0"]) == 2
    assert "--grid-power must be > 0" in capsys.readouterr().err
    overrides = {k: v for k, v in cfg.train.__dict__.items() if k in ("progress", "tensorboard")}
    iql = create("toy-iql", {"train.steps": 5, "train.out_dir": str(tmp_path / "iql")})
    iql.train.progress, iql.train.tensorboard = overrides["progress"], overrides["tensorboard"]
    iql_run = fit(iql).run_dir
    assert main(["loglik-error", str(iql_run)]) == 2
    assert "likelihood" in capsys.readouterr().err
