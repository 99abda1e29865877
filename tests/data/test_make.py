from __future__ import annotations

import numpy as np
import pytest
import torch

from genpolicy.cli import main
from genpolicy.data import load_dataset
from genpolicy.data.make.agents import load_algorithm
from genpolicy.data.readers import read_d4rl_hdf5
from genpolicy.envs.gym_envs import env_spaces

pytest.importorskip("gymnasium")


@pytest.fixture(scope="module")
def sac_zip(tmp_path_factory):
    """A small untrained SB3 SAC agent saved as a zip (Hopper-v5 sizes)."""
    sb3 = pytest.importorskip("stable_baselines3")
    import gymnasium as gym

    model = sb3.SAC("MlpPolicy", gym.make("Hopper-v5"), buffer_size=10, seed=0, device="cpu")
    with torch.no_grad():  # a non-trivial log_std so stochastic actions differ visibly
        model.actor.log_std.bias.fill_(-0.5)
    path = tmp_path_factory.mktemp("agents") / "tqc_Hopper-v3.zip"
    model.save(path)
    return path, model


def test_make_random_and_info(tmp_path, capsys):
    out = tmp_path / "r.hdf5"
    args = ["dataset", "make", "--env", "hopper", "--policy", "random", "--size", "300"]
    assert main([*args, "--seed", "1", "--out", str(out), "--no-progress"]) == 0
    ds = load_dataset(str(out))
    assert len(ds) == 300 and ds.env_id == "Hopper-v5"
    assert ds.timeouts[-1].item() == 1.0 or ds.terminals[-1].item() == 1.0
    a = ds.actions.numpy()
    assert a.min() >= -1.0 and a.max() <= 1.0
    # within an episode the next observation is the following observation
    not_end = np.ones(300, bool)
    not_end[ds.episode_ends.numpy()] = False
    np.testing.assert_array_equal(
        ds.next_observations.numpy()[not_end], ds.observations.numpy()[1:][not_end[:-1]]
    )
    capsys.readouterr()
    assert main(["dataset", "info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "transitions  300" in text and "norm. score" in text
    # refuses to overwrite; same seed gives the same data
    assert main([*args, "--seed", "1", "--out", str(out), "--no-progress"]) == 2
    assert "already exists" in capsys.readouterr().err
    out2 = tmp_path / "r2.hdf5"
    main([*args, "--seed", "1", "--out", str(out2), "--no-progress"])
    r1, r2 = read_d4rl_hdf5(out).arrays, read_d4rl_hdf5(out2).arrays
    for k in r1:
        np.testing.assert_array_equal(r1[k], r2[k])


def test_make_with_minari_out(tmp_path):
    out = tmp_path / "r.hdf5"
    args = ["dataset", "make", "--env", "Hopper-v5", "--policy", "random", "--size", "50"]
    assert main([*args, "--out", str(out), "--minari-out", str(tmp_path / "m")]) == 0
    a = load_dataset(str(out)).arrays()
    b = load_dataset(str(tmp_path / "m" / "genpolicy" / "r")).arrays()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_sb3_actor_matches_stable_baselines(sac_zip):
    path, model = sac_zip
    s = env_spaces("Hopper-v5")
    assert s is not None
    pol = load_algorithm(str(path), obs_dim=11, act_low=s.act_low, act_high=s.act_high, seed=0)
    assert pol.description.startswith("SAC")
    obs = np.random.default_rng(0).normal(size=(5, 11)).astype(np.float32)
    for o in obs:
        expected, _ = model.predict(o, deterministic=True)
        np.testing.assert_allclose(pol(o, True), expected, atol=1e-6)
    a1 = pol(obs[0], False)
    pol2 = load_algorithm(str(path), obs_dim=11, act_low=s.act_low, act_high=s.act_high, seed=0)
    np.testing.assert_array_equal(a1, pol2(obs[0], False))
    assert not np.allclose(a1, pol(obs[0], True))


def test_policy_errors(tmp_path, sac_zip, capsys):
    base = ["dataset", "make", "--size", "10", "--out", str(tmp_path / "x.hdf5")]
    assert main([*base, "--env", "Hopper-v5", "--policy", str(tmp_path / "none.zip")]) == 2
    assert "no such file" in capsys.readouterr().err
    ckpt = tmp_path / "run"
    ckpt.mkdir()
    assert main([*base, "--env", "Hopper-v5", "--policy", str(ckpt)]) == 2
    assert "not supported yet" in capsys.readouterr().err
    assert main([*base, "--env", "HalfCheetah-v5", "--policy", str(sac_zip[0])]) == 2
    assert "pick the matching --env" in capsys.readouterr().err
    assert main([*base, "--env", "Pong", "--policy", "random"]) == 2
    assert "unknown environment 'Pong'" in capsys.readouterr().err
    assert not (tmp_path / "x.hdf5").exists()


def test_make_suite_is_deterministic(tmp_path, sac_zip, monkeypatch, make_arrays):
    import genpolicy.data.make.suite as suite

    path, model = sac_zip
    assets = tmp_path / "assets"
    assets.mkdir()
    torch.save(model.actor.state_dict(), assets / "sac_medium_hopper-v5.pt")
    monkeypatch.setattr(suite, "ASSETS", assets)
    buffers = tmp_path / "buffers"
    buffers.mkdir()
    buf = make_arrays(n_episodes=2, length=7)
    buf["timeouts"][-1] = False  # the buffer stops mid-episode
    np.savez(buffers / "sac_buffer_hopper-v5.npz", **buf)
    outs = []
    for run in ("a", "b"):
        out = tmp_path / run
        args = ["dataset", "make-suite", "--agents", str(path.parent), "--size", "120"]
        args += ["--out", str(out), "--buffers", str(buffers), "--tasks", "hopper"]
        assert main([*args, "--no-progress"]) == 0
        outs.append(out)
    names = sorted(p.name for p in outs[0].glob("*.hdf5"))
    kinds = ("expert", "medium-expert", "medium", "medium-replay")
    assert names == sorted(f"hopper-{k}-v5.hdf5" for k in kinds)
    for name in names:
        a, b = read_d4rl_hdf5(outs[0] / name).arrays, read_d4rl_hdf5(outs[1] / name).arrays
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    me = load_dataset(str(outs[0] / "hopper-medium-expert-v5.hdf5"))
    assert len(me) == 240
    med = read_d4rl_hdf5(outs[0] / "hopper-medium-v5.hdf5").arrays
    np.testing.assert_array_equal(me.observations[:120].numpy(), med["observations"])
    rep = load_dataset(str(outs[0] / "hopper-medium-replay-v5.hdf5"))
    assert len(rep) == 14 and rep.timeouts[-1].item() == 1.0
    # medium (seed 100) and expert (seed 101) differ even with the same weights
    exp = read_d4rl_hdf5(outs[0] / "hopper-expert-v5.hdf5").arrays
    assert not np.array_equal(exp["actions"], med["actions"])


def test_make_noisy_deterministic_policy(tmp_path, sac_zip, capsys):
    """--deterministic --action-noise S: the policy's mean plus N(0, S^2), clipped, recorded."""
    path, model = sac_zip
    base = ["dataset", "make", "--env", "Hopper-v5", "--policy", str(path), "--size", "200"]
    clean, noisy = tmp_path / "clean.hdf5", tmp_path / "noisy.hdf5"
    assert main([*base, "--deterministic", "--out", str(clean), "--no-progress"]) == 0
    flags = ["--deterministic", "--action-noise", "0.1", "--no-progress"]
    assert main([*base, *flags, "--out", str(noisy)]) == 0
    raw = read_d4rl_hdf5(noisy)
    obs, act = raw.arrays["observations"], raw.arrays["actions"]
    mean, _ = model.predict(obs, deterministic=True)
    resid = (act - np.clip(mean, -1, 1))[np.abs(act).max(axis=1) < 0.999]  # unclipped rows
    assert 0.08 < resid.std() < 0.12 and abs(resid.mean()) < 0.02
    assert act.min() >= -1.0 and act.max() <= 1.0
    assert float(raw.metadata["action_noise"]) == 0.1
    assert main([*base, "--action-noise", "-1", "--out", str(tmp_path / "x.hdf5")]) == 2
    assert "--action-noise" in capsys.readouterr().err
