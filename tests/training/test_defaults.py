"""Each algorithm's default config: reachable by the algorithm's name, free of dataset-specific
settings, and trainable on a file nobody tuned it for."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import genpolicy
from genpolicy.data.writers import write_d4rl
from genpolicy.rl.algos import ALGORITHMS
from genpolicy.training.config import load
from genpolicy.training.shipped import builtin_names, default_names, find_config


def test_every_algorithm_has_a_default_by_its_name() -> None:
    assert sorted(default_names()) == sorted(ALGORITHMS)
    assert not set(default_names()) & set(builtin_names())
    for name in default_names():
        cfg = load(name)
        assert cfg.algo.name == name
        assert cfg.train.steps == 50_000
        assert cfg.data.env_id is None  # taken from the dataset


def test_defaults_name_no_dataset_but_the_placeholder() -> None:
    for name in default_names():
        path = find_config(name)
        assert path is not None
        text = path.read_text()
        assert "--set data.dataset=FILE" in text.splitlines()[0]
        datasets = {
            line.split(":", 1)[1].strip() for line in text.splitlines() if "dataset:" in line
        }
        assert datasets == {"hopper-medium-v5"}, (name, datasets)


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_a_default_trains_on_a_file_it_has_never_seen(
    name: str, tmp_path: Path, make_arrays: Callable[..., dict[str, np.ndarray]]
) -> None:
    arrays = make_arrays(n_episodes=8, length=40, obs_dim=11, act_dim=3, seed=1)
    arrays["actions"] = np.clip(arrays["actions"], -0.99, 0.99)
    data = write_d4rl(tmp_path / "mine.hdf5", arrays)
    cfg = genpolicy.create(
        name,
        {
            "data.dataset": str(data),
            "data.env_id": "Hopper-v5",
            "train.steps": 4,
            "train.eval_every": 0,
            "train.eval_episodes": 1,
            "train.checkpoint_every": 0,
            "train.log_every": 2,
            "train.out_dir": str(tmp_path / "runs"),
            "train.progress": False,
            "train.tensorboard": False,
        },
    )
    result = genpolicy.fit(cfg)
    assert (result.run_dir / "summary.json").is_file()
