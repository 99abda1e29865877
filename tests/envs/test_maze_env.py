"""The AntMaze / PointMaze environments (need gymnasium-robotics), the planner's data and
evaluation with a success rate."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("gymnasium_robotics")

from genpolicy.data import load_dataset  # noqa: E402
from genpolicy.envs.evaluate import evaluate, score_task  # noqa: E402
from genpolicy.envs.gym_envs import env_spaces, make_env  # noqa: E402
from genpolicy.envs.mazes import MAZE_ENV_IDS, SPECS, WaypointController, open_cells  # noqa: E402


@pytest.mark.parametrize("env_id", sorted(MAZE_ENV_IDS))
def test_every_maze_env_is_flat_and_in_its_frame(env_id):
    robot, size, _ = MAZE_ENV_IDS[env_id]
    env = make_env(env_id, seed=0)
    u = env.unwrapped
    try:
        obs, info = env.reset(seed=0)
        assert obs.shape == ((4,) if robot == "point" else (29,))
        assert env.spec.max_episode_steps == SPECS[(robot, size)].max_episode_steps
        assert info["success"] is False
        # every open cell of the layout is the same open cell of Gymnasium-Robotics' maze
        inner = u.inner.maze
        for cell in open_cells(u.maze.layout):
            xy = u.frame.cell_xy(*cell)
            got = inner.cell_xy_to_rowcol(xy - u.frame.offset)
            assert tuple(int(v) for v in got) == u.frame.gym_cell(cell)
            assert u.frame.grid[tuple(got)] == 0
        # at the goal: reward 1, success; AntMaze ends there (D4RL's evaluation)
        u.set_state_xy(u.goal)
        obs, rew, term, trunc, info = env.step(np.zeros(env.action_space.shape))
        assert rew == 1.0 and info["success"]
        assert term == (robot == "ant") and not trunc
    finally:
        env.close()
    spaces = env_spaces(env_id)
    assert spaces is not None and spaces.obs_dim == obs.shape[0]


@pytest.mark.parametrize("env_id", ["genpolicy/maze2d-umaze-v1", "genpolicy/PointMaze_UMaze-v3"])
def test_planner_reaches_the_goal_and_scores(env_id):
    env = make_env(env_id, seed=0)
    u = env.unwrapped
    ctrl = WaypointController(u.frame, u.maze.layout)
    goal = u.goal.copy()
    env.close()

    def act(obs: np.ndarray) -> np.ndarray:
        return np.stack([ctrl(o.astype(np.float64), goal) for o in obs]).astype(np.float32)

    res = evaluate(act, env_id, episodes=3, seed=0, task=score_task(env_id))
    assert score_task(env_id) == "maze2d-umaze"
    assert res.success_rate == 1.0
    assert res.score_mean is not None and res.score_mean > 60
    assert "success_rate" in res.to_dict()


def test_make_pointmaze_dataset_cli(tmp_path):
    out = tmp_path / "pm.hdf5"
    cmd = [sys.executable, "-m", "genpolicy.cli", "dataset", "make", "--env", "maze2d-umaze"]
    cmd += ["--policy", "planner", "--size", "3000", "--out", str(out), "--no-progress"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "reached their goal" in r.stdout
    ds = load_dataset(str(out))  # checked against genpolicy/maze2d-umaze-v1
    assert ds.env_id == "genpolicy/maze2d-umaze-v1" and ds.obs_dim == 4 and ds.act_dim == 2
    assert ds.terminals.sum() == 0 and ds.num_episodes > 20
    assert float(ds.metadata["data_success_rate"]) > 0.9
    # the stored rewards are D4RL's, against the fixed goal
    xy = ds.next_observations[:, :2].numpy()
    at_goal = np.linalg.norm(xy - np.array([1.0, 1.0]), axis=1) <= 0.5
    np.testing.assert_array_equal(ds.rewards.numpy() > 0, at_goal)
    # wrong environment: one line
    bad = [sys.executable, "-m", "genpolicy.cli", "dataset", "make", "--env", "Hopper-v5"]
    bad += ["--policy", "planner", "--size", "10", "--out", str(tmp_path / "x.hdf5")]
    r = subprocess.run(bad, capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "planner makes PointMaze data only" in r.stderr
