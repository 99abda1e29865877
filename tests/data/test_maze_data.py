"""Maze datasets without a simulator: D4RL antmaze / maze2d hdf5 and Minari's D4RL
antmaze / pointmaze layout, read through the ordinary readers; scores; the planner."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from genpolicy.data import load_dataset
from genpolicy.envs.mazes import (
    FRAMES,
    MAZE_ENV_IDS,
    SIZES,
    SPECS,
    cell_distances,
    goal_xy,
    guess_maze_env_id,
    make_frame,
    maze_array,
    minari_env_id,
    open_cells,
)
from genpolicy.envs.registry import normalized_score, task_for, task_of
from genpolicy.errors import GenpolicyError


def _d4rl(path, **arrays):
    with h5py.File(path, "w") as f:
        for k, v in arrays.items():
            f.create_dataset(k, data=v)


def _antmaze_arrays(n=30, with_next=False, with_timeouts=True):
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(n, 29)).astype(np.float32)
    act = rng.uniform(-1, 1, size=(n, 8)).astype(np.float32)
    rew = np.zeros(n, np.float32)
    rew[[5, 6, 17]] = 1.0
    arrays = {"observations": obs, "actions": act, "rewards": rew, "terminals": rew > 0}
    if with_timeouts:
        tout = np.zeros(n, bool)
        tout[[9, 19, 29]] = True
        arrays["timeouts"] = tout
    if with_next:
        nxt = np.roll(obs, -1, axis=0).copy()
        nxt[[9, 19]] += 5.0  # the next episode starts elsewhere
        arrays["next_observations"] = nxt
    return arrays


def test_d4rl_antmaze_terminals_mark_the_goal(tmp_path):
    path = tmp_path / "antmaze-umaze-v2.hdf5"
    _d4rl(path, **_antmaze_arrays())
    ds = load_dataset(str(path), normalize_obs=False)
    assert ds.env_id == "genpolicy/antmaze-umaze-v2"
    assert ds.normalizer.reward_convention == "antmaze"
    # no next_observations: the last row of each timeout episode is dropped (27 left)
    assert len(ds) == 27
    # goal rows keep their terminal (no bootstrapping) and the r - 1 reward is 0 there
    term = ds.terminals.numpy() > 0
    assert term.sum() == 3
    batch_rewards = ds._rewards_c.numpy()
    assert set(np.unique(batch_rewards[term])) == {0.0}
    assert set(np.unique(batch_rewards[~term])) == {-1.0}


def test_d4rl_antmaze_without_timeouts_uses_observation_gaps(tmp_path):
    path = tmp_path / "antmaze-medium-diverse-v2.hdf5"
    arrays = _antmaze_arrays(with_next=True, with_timeouts=False)
    arrays["terminals"] = np.zeros(30, bool)  # episodes must come from the gaps
    _d4rl(path, **arrays)
    ds = load_dataset(str(path), normalize_obs=False)
    assert ds.env_id == "genpolicy/antmaze-medium-v2"
    assert np.flatnonzero(ds.timeouts.numpy()).tolist() == [9, 19, 29]
    assert ds.num_episodes == 3


def test_d4rl_maze2d_terminals_become_timeouts(tmp_path):
    n = 20
    rng = np.random.default_rng(1)
    obs = rng.normal(size=(n, 4)).astype(np.float32)
    term = np.zeros(n, bool)
    term[[7, 19]] = True  # the data policy's goal was resampled here
    _d4rl(
        tmp_path / "maze2d-umaze-v1.hdf5",
        observations=obs,
        actions=rng.uniform(-1, 1, (n, 2)).astype(np.float32),
        rewards=(rng.uniform(size=n) > 0.7).astype(np.float32),
        terminals=term,
        timeouts=np.zeros(n, bool),
    )
    ds = load_dataset(str(tmp_path / "maze2d-umaze-v1.hdf5"), normalize_obs=False)
    assert ds.env_id == "genpolicy/maze2d-umaze-v1"
    assert ds.terminals.sum() == 0 and ds.num_episodes == 2
    assert ds.normalizer.reward_convention == "none"


def _minari(root, env_id, episodes):
    data = root / "data"
    data.mkdir(parents=True)
    meta = {"dataset_id": root.name, "env_spec": json.dumps({"id": env_id, "kwargs": {}})}
    (data / "metadata.json").write_text(json.dumps(meta))
    with h5py.File(data / "main_data.hdf5", "w") as f:
        for i, ep in enumerate(episodes):
            g = f.create_group(f"episode_{i}")
            o = g.create_group("observations")
            for k in ("observation", "achieved_goal", "desired_goal"):
                o[k] = ep[k]
            t = len(ep["actions"])
            g["actions"] = ep["actions"]
            g["rewards"] = np.zeros(t)
            g["terminations"] = np.zeros(t, bool)
            g["truncations"] = np.arange(t) == t - 1
    return root


def test_minari_antmaze_flattened_and_relabelled(tmp_path):
    goal = goal_xy(SPECS[("ant", "umaze")], make_frame("ant", "umaze", "gymnasium"))
    np.testing.assert_allclose(goal, [-4.0, -4.0])  # cell (3, 1), Gymnasium-Robotics frame
    t = 6
    ach = np.zeros((t + 1, 2))
    ach[3] = goal + 0.2  # at the goal after step 3 (its next observation)
    ep = {
        "observation": np.arange((t + 1) * 27, dtype=np.float64).reshape(t + 1, 27),
        "achieved_goal": ach,
        "desired_goal": np.full((t + 1, 2), 7.0),  # another goal: dropped, not rewarded
        "actions": np.zeros((t, 8)),
    }
    root = _minari(tmp_path / "umaze-v1", "AntMaze_UMaze-v4", [ep, ep])
    ds = load_dataset(str(root), normalize_obs=False, env_check=False)
    assert ds.env_id == "genpolicy/AntMaze_UMaze-v5"
    assert ds.obs_dim == 29
    np.testing.assert_allclose(ds.observations[1, :2].numpy(), ach[1])
    np.testing.assert_allclose(ds.observations[1, 2:].numpy(), ep["observation"][1])
    assert ds.rewards.numpy().tolist() == [0, 0, 1, 0, 0, 0] * 2
    assert ds.terminals.numpy().tolist() == [0, 0, 1, 0, 0, 0] * 2
    assert ds.metadata["minari_env_id"] == "AntMaze_UMaze-v4"


def test_minari_pointmaze_keeps_the_state(tmp_path):
    t = 4
    obs = np.arange((t + 1) * 4, dtype=np.float64).reshape(t + 1, 4)
    ep = {
        "observation": obs,
        "achieved_goal": obs[:, :2],
        "desired_goal": np.zeros((t + 1, 2)),
        "actions": np.zeros((t, 2)),
    }
    root = _minari(tmp_path / "medium-v2", "PointMaze_Medium-v3", [ep])
    ds = load_dataset(str(root), normalize_obs=False, env_check=False)
    assert ds.env_id == "genpolicy/PointMaze_Medium-v3" and ds.obs_dim == 4
    np.testing.assert_allclose(ds.observations.numpy(), obs[:-1])
    assert ds.terminals.sum() == 0 and ds.normalizer.reward_convention == "none"


def test_scores_and_names():
    assert task_of("antmaze-umaze-diverse-v2") == "antmaze"
    assert task_of("AntMaze_Large_Diverse_GR-v4") == "antmaze"
    assert task_of("maze2d-umaze-v1") == "maze2d-umaze"
    assert task_of("PointMaze_MediumDense-v3") == "maze2d-medium-dense"
    assert task_of("D4RL/pointmaze/large-v2") == "maze2d-large"
    assert task_of("pointmaze-open-v1") is None  # a maze size we have no reference for
    # the environment decides; the name is only a fallback (antmaze is never Ant)
    assert task_for("genpolicy/maze2d-medium-v1", "hopper-medium-v5") == "maze2d-medium"
    assert task_for(None, "antmaze-large-play-v2") == "antmaze"
    assert normalized_score("maze2d-umaze", 161.86) == pytest.approx(100.0)
    assert normalized_score("maze2d-large-v1", 6.7) == pytest.approx(0.0)
    assert normalized_score("genpolicy/antmaze-umaze-v2", 1.0) == pytest.approx(100.0)
    assert guess_maze_env_id("antmaze-large-diverse-v2") == "genpolicy/antmaze-large-v2"
    assert guess_maze_env_id("pointmaze-medium-v1") == "genpolicy/maze2d-medium-v1"
    assert guess_maze_env_id("hopper-medium-v5") is None
    assert minari_env_id("PointMaze_UMazeDense-v3") == "genpolicy/PointMaze_UMaze-v3"
    assert minari_env_id("Hopper-v5") is None


@pytest.mark.parametrize("robot", ["point", "ant"])
@pytest.mark.parametrize("frame", FRAMES)
@pytest.mark.parametrize("size", SIZES)
def test_frames_round_trip(robot, frame, size):
    lay = maze_array(size)
    fr = make_frame(robot, size, frame)
    for i in range(lay.shape[0]):
        for j in range(lay.shape[1]):
            assert fr.xy_cell(fr.cell_xy(i, j)) == (i, j)
            assert fr.grid[fr.gym_cell((i, j))] == lay[i, j]  # the same place in both maps
    spec = SPECS[(robot, size)]
    assert fr.xy_cell(goal_xy(spec, fr)) == spec.goal_cell


def test_planner_distances():
    lay = maze_array("umaze")
    d = cell_distances(lay, (1, 1))
    assert d[3, 1] == 6 and d[1, 3] == 2 and d[0, 0] == -1
    assert len(open_cells(lay)) == 7
    with pytest.raises(GenpolicyError, match="wall"):
        cell_distances(lay, (0, 0))
    assert len(MAZE_ENV_IDS) == 12


def test_missing_robotics_is_one_line(monkeypatch):
    pytest.importorskip("gymnasium")
    import genpolicy.envs.mazes as mz
    from genpolicy.envs.gym_envs import make_env

    monkeypatch.setattr(mz, "have_robotics", lambda: False)
    with pytest.raises(GenpolicyError, match=r"genpolicy\[maze\]"):
        make_env("genpolicy/maze2d-umaze-v1")


def test_maze_plot_draws_dataset_trajectories(tmp_path):
    from genpolicy.envs.maze_plot import dataset_trajectories, plot_maze

    n = 40
    t = np.linspace(0, 1, n)
    obs = np.stack([1 + 2 * t, 1 + 0 * t, np.ones(n), np.zeros(n)], axis=1).astype(np.float32)
    tout = np.zeros(n, bool)
    tout[[19, 39]] = True
    _d4rl(
        tmp_path / "maze2d-umaze-v1.hdf5",
        observations=obs,
        actions=np.zeros((n, 2), np.float32),
        rewards=np.zeros(n, np.float32),
        terminals=np.zeros(n, bool),
        timeouts=tout,
    )
    env_id, trajs = dataset_trajectories(str(tmp_path / "maze2d-umaze-v1.hdf5"), 5)
    assert env_id == "genpolicy/maze2d-umaze-v1" and len(trajs) == 2
    out = plot_maze(env_id, tmp_path / "m.png", trajectories=trajs)
    assert out.stat().st_size > 1000
    with pytest.raises(GenpolicyError, match="not a maze"):
        plot_maze("Hopper-v5", tmp_path / "h.png")
