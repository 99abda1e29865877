"""genpolicy loglik-error on a tiny trained GMPG run of the toy bandit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genpolicy.cli import main
from genpolicy.config import create
from genpolicy.train import fit


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
    assert coarse["configured"] == {"steps": 2, "solver": "euler", "divergence": "exact"}
    assert fine["mean_abs_error_nats"] < coarse["mean_abs_error_nats"]
    assert fine["mean_abs_error_nats"] < 0.05
    overrides = {k: v for k, v in cfg.train.__dict__.items() if k in ("progress", "tensorboard")}
    iql = create("toy-iql", {"train.steps": 5, "train.out_dir": str(tmp_path / "iql")})
    iql.train.progress, iql.train.tensorboard = overrides["progress"], overrides["tensorboard"]
    iql_run = fit(iql).run_dir
    assert main(["loglik-error", str(iql_run)]) == 2
    assert "likelihood" in capsys.readouterr().err
