"""benchmarks/halfcheetah_flips.py: each episode's return and share of steps on the back."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import genpolicy
from genpolicy.data.writers import write_d4rl
from tests.helpers import quiet_run, script

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("gymnasium") is None, reason="needs gymnasium (extra envs)"
)
flips = script("benchmarks/halfcheetah_flips.py")


def test_a_policy_is_rolled_out_and_its_flips_counted(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 64
    arrays = {
        "observations": rng.normal(size=(n, 17)).astype(np.float32),
        "next_observations": rng.normal(size=(n, 17)).astype(np.float32),
        "actions": rng.uniform(-1, 1, size=(n, 6)).astype(np.float32),
        "rewards": rng.normal(size=n).astype(np.float32),
        "terminals": np.zeros(n, bool),
        "timeouts": np.arange(n) % 32 == 31,
    }
    data = write_d4rl(tmp_path / "hc.hdf5", arrays, {"env_id": "HalfCheetah-v5"})
    cfg = genpolicy.create("bc", {"data.dataset": str(data), **quiet_run(tmp_path / "runs", 5)})
    run = genpolicy.fit(cfg).run_dir
    out = tmp_path / "flips.json"
    assert flips.main([str(run), "--episodes", "2", "--out", str(out)]) == 0
    (eps,) = json.loads(out.read_text()).values()
    assert len(eps) == 2
    assert all(0.0 <= e["flipped_share"] <= 1.0 and np.isfinite(e["return"]) for e in eps)


def test_a_folder_without_a_run_fails_in_one_line(tmp_path: Path, capsys) -> None:
    assert flips.main([str(tmp_path), "--out", str(tmp_path / "f.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert not (tmp_path / "f.json").exists()
