"""Every validation error: one line, naming the file and the key."""

from __future__ import annotations

import importlib.util

import h5py
import numpy as np
import pytest

from genpolicy.data import load_dataset
from genpolicy.data.writers import write_d4rl
from genpolicy.errors import GenpolicyError


def write_raw(path, arrays):
    with h5py.File(path, "w") as f:
        for k, v in arrays.items():
            f[k] = v
    return str(path)


def check(spec, pattern, **kw):
    with pytest.raises(GenpolicyError, match=pattern) as info:
        load_dataset(spec, **kw)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_missing_key(tmp_path, arrays):
    del arrays["rewards"]
    p = write_raw(tmp_path / "a.hdf5", arrays)
    msg = check(p, "missing key 'rewards'")
    assert msg.startswith(p)


def test_length_mismatch(tmp_path, arrays):
    arrays["actions"] = arrays["actions"][:-1]
    p = write_raw(tmp_path / "a.hdf5", arrays)
    check(p, f"{p}: key 'actions' has 14 rows but 'observations' has 15")


def test_next_observation_shape(tmp_path, arrays):
    arrays["next_observations"] = arrays["next_observations"][:, :4]
    check(write_raw(tmp_path / "a.hdf5", arrays), "key 'next_observations' has shape")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_inf(tmp_path, arrays, bad):
    arrays["observations"][7, 2] = bad
    p = write_raw(tmp_path / "a.hdf5", arrays)
    check(p, f"{p}: key 'observations' holds NaN or inf \\(first at row 7\\)")


def test_nan_in_npz(tmp_path, arrays):
    arrays["rewards"][3] = np.nan
    np.savez(tmp_path / "a.npz", **arrays)
    check(str(tmp_path / "a.npz"), "a.npz: key 'rewards' holds NaN")


def test_no_episode_end(tmp_path, arrays):
    arrays["terminals"][:] = False
    arrays["timeouts"][:] = False
    check(write_raw(tmp_path / "a.hdf5", arrays), "no episode end: 'terminals' or 'timeouts'")


def test_empty(tmp_path, arrays):
    check(
        write_raw(tmp_path / "a.hdf5", {k: v[:0] for k, v in arrays.items()}),
        "key 'observations' is empty",
    )


needs_gym = pytest.mark.skipif(
    importlib.util.find_spec("gymnasium") is None, reason="needs gymnasium (extra envs)"
)


@needs_gym
def test_actions_outside_action_space(tmp_path, arrays):
    arrays["actions"][4, 1] = 1.5
    p = str(write_d4rl(tmp_path / "a.hdf5", arrays, {"env_id": "Hopper-v5"}))
    check(p, f"{p}: key 'actions' leaves the action space of Hopper-v5 .*first at row 4")
    assert len(load_dataset(p, env_check=False)) == 15


@needs_gym
def test_observation_size_mismatch(tmp_path, arrays):
    p = str(write_d4rl(tmp_path / "a.hdf5", arrays, {"env_id": "HalfCheetah-v5"}))
    check(p, f"{p}: key 'observations' has size 11 but HalfCheetah-v5 observes 17")
    check(p, "Walker2d-v5 observes 17", env_id="Walker2d-v5")


@needs_gym
def test_action_size_mismatch(tmp_path, make_arrays):
    arrays = make_arrays(act_dim=2)
    p = str(write_d4rl(tmp_path / "a.hdf5", arrays, {"env_id": "Hopper-v5"}))
    check(p, "key 'actions' has size 2 but Hopper-v5 takes 3")


def test_not_found_and_unknown_format(tmp_path):
    check(str(tmp_path / "nope.hdf5"), "nope.hdf5: no such file")
    check("no-such-suite-dataset", "dataset 'no-such-suite-dataset' not found")
    (tmp_path / "a.csv").write_text("x")
    check(str(tmp_path / "a.csv"), "unknown dataset format '.csv'")
    (tmp_path / "b.hdf5").write_text("not hdf5")
    check(str(tmp_path / "b.hdf5"), "b.hdf5: cannot open as hdf5")
    (tmp_path / "empty").mkdir()
    check(str(tmp_path / "empty"), "not a Minari dataset folder")


def _minari(tmp_path, obs_rows=4, drop=None):
    data = tmp_path / "m" / "data"
    data.mkdir(parents=True)
    with h5py.File(data / "main_data.hdf5", "w") as f:
        g = f.create_group("episode_0")
        g["observations"] = np.zeros((obs_rows, 2), np.float32)
        g["actions"] = np.zeros((3, 1), np.float32)
        g["rewards"] = np.ones(3)
        g["terminations"] = np.array([False, False, True])
        g["truncations"] = np.zeros(3, bool)
        if drop:
            del g[drop]
    return str(tmp_path / "m"), str(data / "main_data.hdf5")


def test_minari_missing_key(tmp_path):
    spec, main = _minari(tmp_path, drop="rewards")
    check(spec, f"{main}: missing key 'episode_0/rewards'")


def test_minari_observation_rows(tmp_path):
    spec, main = _minari(tmp_path, obs_rows=3)
    check(spec, f"{main}: key 'episode_0/observations' has 3 rows .* T\\+1")
