"""``genpolicy bench train`` (genpolicy.training.bench) and the GPU script's CPU dry run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

from genpolicy.errors import GenpolicyError
from genpolicy.training.bench import TrainBenchConfig, format_train_report, run_train_bench

TINY = {"model.hidden": 16, "model.depth": 1, "critic.hidden": 16}


def test_train_bench_rows_and_machine() -> None:
    cfg = TrainBenchConfig(
        algos=("bc", "gmpg"),
        batches=(16,),
        modes=("eager",),
        min_seconds=0.0,
        warmup=1,
        max_updates=2,
        overrides=TINY,
    )
    saved: list[int] = []
    res = run_train_bench(cfg, save=lambda r: saved.append(len(r["rows"])))
    assert saved == [1, 2]
    assert {"device", "device_name", "torch", "threads"} <= set(res["machine"])
    gmpg = res["rows"][1]
    assert gmpg["phase"] == "policy" and gmpg["population"] == 1 and gmpg["updates"] >= 1
    assert "updates/s" in format_train_report(res)


def test_train_bench_populations() -> None:
    """A population row counts every member's updates; algorithms without populations
    (GMPG) get population-1 rows only, and populations run in every mode, compiled too."""
    cfg = TrainBenchConfig(
        algos=("gmpo", "gmpg"),
        batches=(16,),
        modes=("eager", "default"),
        populations=(1, 3),
        min_seconds=0.0,
        warmup=1,
        max_updates=2,
        overrides=TINY,
    )
    rows = run_train_bench(cfg)["rows"]
    got = [(r["algo"], r["population"], r["mode"]) for r in rows]
    assert got == [
        ("gmpo", 1, "eager"),
        ("gmpo", 1, "default"),
        ("gmpo", 3, "eager"),
        ("gmpo", 3, "default"),
        ("gmpg", 1, "eager"),
        ("gmpg", 1, "default"),
    ]
    pop = rows[2]
    assert pop["member_updates_per_s"] == pytest.approx(3 * pop["updates_per_s"])


def test_train_bench_refuses_what_it_cannot_run() -> None:
    with pytest.raises(GenpolicyError, match="population sizes must be >= 1"):
        run_train_bench(TrainBenchConfig(populations=(0,)))
    with pytest.raises(GenpolicyError, match="reduce-overhead .* needs --device cuda"):
        run_train_bench(TrainBenchConfig(modes=("reduce-overhead",)))


@pytest.mark.slow
def test_gpu_script_quick_dry_run(tmp_path: Path) -> None:
    """benchmarks/gpu/run.sh --quick: the benchmark's whole path (inductor included) on the
    CPU, its JSON written to $OUT."""
    env = {**os.environ, "OUT": str(tmp_path), "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    subprocess.run(
        ["bash", str(ROOT / "benchmarks/gpu/run.sh"), "--quick"],
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    res = json.loads((tmp_path / "train_speed_quick.json").read_text())
    assert {(r["algo"], r["mode"]) for r in res["rows"]} == {
        (a, m) for a in ("bc", "gmpo") for m in ("eager", "default")
    }
