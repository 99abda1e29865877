from __future__ import annotations

import json
import sys

import h5py
import numpy as np
import pytest

from genpolicy.data import load_dataset
from genpolicy.data.readers import read_d4rl_hdf5
from genpolicy.data.writers import write_d4rl, write_minari
from genpolicy.errors import GenpolicyError

KEYS = ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts")


def assert_same(ds, arrays):
    got = ds.arrays()
    for k in KEYS:
        np.testing.assert_array_equal(got[k], np.asarray(arrays[k]).astype(got[k].dtype), k)


def test_d4rl_hdf5_round_trip(tmp_path, arrays):
    path = write_d4rl(tmp_path / "toy.hdf5", arrays, {"env_id": "Hopper-v5", "seed": 3})
    ds = load_dataset(str(path))
    assert_same(ds, arrays)
    assert ds.env_id == "Hopper-v5" and ds.name == "toy"
    assert ds.metadata["seed"] == 3
    with h5py.File(path) as f:
        assert f["observations"].dtype == np.float32 and f["terminals"].dtype == bool
        assert f["metadata"].attrs["env_id"] == "Hopper-v5"


def test_d4rl_float64_v1_layout(tmp_path, arrays):
    """float64 replay-style file with timeouts but no next_observations."""
    path = tmp_path / "hopper-medium-replay-v1.hdf5"
    with h5py.File(path, "w") as f:
        for k in ("observations", "actions", "rewards"):
            f[k] = arrays[k].astype(np.float64)
        f["terminals"] = arrays["terminals"].astype(np.float64)
        f["timeouts"] = arrays["timeouts"]
        f.create_group("metadata")["algorithm"] = b"SAC"
    ds = load_dataset(str(path))
    assert ds.env_id == "Hopper-v5"  # guessed from the file name
    assert ds.metadata["algorithm"] == "SAC"
    assert len(ds) == 13  # the two timed-out episodes lose their last transition
    np.testing.assert_array_equal(ds.observations[:5].numpy(), arrays["observations"][:5])
    np.testing.assert_array_equal(ds.next_observations[5:9].numpy(), arrays["observations"][6:10])
    assert ds.reward_scale != 1.0  # locomotion convention picked automatically


def test_d4rl_v0_layout(tmp_path, arrays):
    path = tmp_path / "walker2d-medium-v0.hdf5"
    with h5py.File(path, "w") as f:
        for k in ("observations", "actions", "rewards", "terminals"):
            f[k] = arrays[k]
    ds = load_dataset(str(path), env_check=False)
    assert ds.env_id == "Walker2d-v5"
    assert len(ds) == 14  # no timeouts: only the final, cut transition is dropped


def test_npz_round_trip(tmp_path, arrays):
    np.savez(tmp_path / "toy.npz", **arrays, env_id="Hopper-v5")
    ds = load_dataset(str(tmp_path / "toy.npz"), reward_convention="none")
    assert_same(ds, arrays)
    assert ds.env_id == "Hopper-v5" and ds.reward_scale == 1.0


def test_minari_round_trip_by_path_and_id(tmp_path, arrays, monkeypatch):
    root = tmp_path / "minari"
    dest = write_minari(root, "mujoco/hopper/toy-v0", arrays, env_id="Hopper-v5")
    ds = load_dataset(str(dest))
    assert_same(ds, arrays)
    assert ds.env_id == "Hopper-v5" and ds.name == "mujoco/hopper/toy-v0"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    assert_same(load_dataset("mujoco/hopper/toy-v0"), arrays)
    with pytest.raises(GenpolicyError, match="already exists; pass --overwrite"):
        write_minari(root, "mujoco/hopper/toy-v0", arrays)
    write_minari(root, "mujoco/hopper/toy-v0", arrays, overwrite=True)


def test_minari_folder_readable_by_minari(tmp_path, arrays):
    minari = pytest.importorskip("minari")
    dest = write_minari(tmp_path, "genpolicy/toy-v0", arrays, env_id="Hopper-v5")
    mds = minari.MinariDataset(dest / "data")
    assert mds.total_steps == 15 and mds.total_episodes == 3
    ep = next(mds.iterate_episodes())
    np.testing.assert_array_equal(ep.observations[:-1], arrays["observations"][:5])
    assert bool(ep.terminations[-1])


def test_minari_dict_observations_are_flattened(tmp_path):
    data = tmp_path / "ds" / "data"
    data.mkdir(parents=True)
    (data / "metadata.json").write_text(json.dumps({"dataset_id": "maze/toy-v0"}))
    with h5py.File(data / "main_data.hdf5", "w") as f:
        g = f.create_group("episode_0")
        obs = g.create_group("observations")
        obs["observation"] = np.arange(8, dtype=np.float32).reshape(4, 2)
        obs["achieved_goal"] = np.full((4, 1), 9.0, np.float32)
        g["actions"] = np.zeros((3, 1), np.float32)
        g["rewards"] = np.ones(3)
        g["terminations"] = np.array([False, False, False])
        g["truncations"] = np.array([False, False, False])  # ends without a flag
    ds = load_dataset(str(tmp_path / "ds"), normalize_obs=False)
    np.testing.assert_array_equal(ds.observations[0].numpy(), [9.0, 0.0, 1.0])
    assert ds.timeouts.tolist() == [0.0, 0.0, 1.0] and ds.env_id is None


def test_suite_name_lookup(tmp_path, arrays, monkeypatch):
    write_d4rl(tmp_path / "hopper-medium-v5.hdf5", arrays, {"env_id": "Hopper-v5"})
    monkeypatch.setenv("GENPOLICY_DATASETS", str(tmp_path))
    ds = load_dataset("hopper-medium-v5")
    assert ds.name == "hopper-medium-v5"
    assert_same(ds, arrays)


def test_writer_never_overwrites(tmp_path, arrays):
    path = write_d4rl(tmp_path / "a.hdf5", arrays)
    before = path.read_bytes()
    with pytest.raises(GenpolicyError, match="a.hdf5: already exists; pass --overwrite"):
        write_d4rl(path, {k: v[:5] for k, v in arrays.items()})
    assert path.read_bytes() == before
    write_d4rl(path, {k: v[:5] for k, v in arrays.items()}, overwrite=True)
    assert len(read_d4rl_hdf5(path).arrays["rewards"]) == 5
    assert not list(tmp_path.glob(".*tmp*"))


def test_reading_does_not_modify_the_file(tmp_path, arrays):
    path = write_d4rl(tmp_path / "hopper.hdf5", arrays)
    before = path.read_bytes()
    load_dataset(str(path))
    assert path.read_bytes() == before


def test_missing_minari_id_without_minari(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    monkeypatch.setitem(sys.modules, "minari", None)
    with pytest.raises(GenpolicyError, match="not under .*install.*genpolicy\\[minari\\]"):
        load_dataset("mujoco/hopper/absent-v0")


def test_missing_minari_id_download_fails(tmp_path, monkeypatch):
    minari = pytest.importorskip("minari")
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))

    def offline(dataset_id):
        raise ConnectionError("network unreachable")

    monkeypatch.setattr(minari, "download_dataset", offline)
    with pytest.raises(GenpolicyError, match="could not be downloaded \\(network unreachable\\)"):
        load_dataset("mujoco/hopper/absent-v0")


def test_fingerprint_names_the_data_not_the_file(tmp_path, arrays):
    """The same transitions in hdf5 and npz share a fingerprint; one changed reward does not."""
    h5 = load_dataset(str(write_d4rl(tmp_path / "a.hdf5", arrays, {"env_id": "Hopper-v5"})))
    np.savez(tmp_path / "b.npz", **arrays, env_id="Hopper-v5")
    npz = load_dataset(str(tmp_path / "b.npz"), reward_convention="none")
    assert h5.fingerprint() == npz.fingerprint() and len(h5.fingerprint()) == 16
    changed = {**arrays, "rewards": np.asarray(arrays["rewards"]).copy()}
    changed["rewards"][7] += 1.0
    other = load_dataset(str(write_d4rl(tmp_path / "c.hdf5", changed, {"env_id": "Hopper-v5"})))
    assert other.fingerprint() != h5.fingerprint()
