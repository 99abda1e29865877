"""Maze datasets: the conventions of D4RL's antmaze / maze2d files and Minari's D4RL
antmaze / pointmaze datasets, and D4RL's maze2d recipe for making data here.

Readers (called from :mod:`genpolicy.data.readers`, so the ordinary D4RL / Minari code path
reads the arrays):

- **Minari** (``D4RL/antmaze/*``, ``D4RL/pointmaze/*``): the Dict observation is flattened to
  the robot's state, ``(x, y)`` first (PointMaze: ``observation``; AntMaze:
  ``[achieved_goal, observation]``, 29 numbers) and ``desired_goal`` is dropped; the rewards
  are relabelled against the environment's fixed evaluation goal (1 within 0.5), as D4RL's
  files are; AntMaze terminals then mark the goal (D4RL's convention, below). The
  environment becomes genpolicy's Gymnasium-frame one (``genpolicy/AntMaze_UMaze-v5``, ...).
- **D4RL antmaze** hdf5: ``terminals`` mark reaching the goal (reward 1) without ending the
  episode, ``timeouts`` end episodes. Terminals are kept: a goal transition does not
  bootstrap (IQL's ``masks = 1 - terminals``), with reward ``r - 1`` (the "antmaze" reward
  convention) the goal is worth 0 and every other step -1. Files whose timeouts are missing or
  never set get them where ``next_observations[i] != observations[i + 1]`` (IQL's
  ``dones_float``), or every 700 / 1000 steps.
- **D4RL maze2d** hdf5: the evaluation task never terminates, so a ``terminals`` flag (where
  the data policy's goal was resampled) is read as a timeout (an episode end that
  bootstraps).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from genpolicy.envs.mazes import (
    GOAL_RADIUS,
    MAZE_ENV_IDS,
    SPECS,
    WaypointController,
    env_name,
    goal_xy,
    make_frame,
    maze_of,
    open_cells,
)
from genpolicy.errors import GenpolicyError

MAZE_MAKE_SIZES = ("umaze", "medium", "large")


def maze_task(env_id: str | None, name: str | None) -> tuple[str, str, str] | None:
    """``(robot, size, frame)`` of a maze dataset, from its environment id (genpolicy's maze
    ids) or, failing that, its name (D4RL frame); None for other datasets."""
    if env_id and env_id in MAZE_ENV_IDS:
        return MAZE_ENV_IDS[env_id]
    for text in (env_id, name):
        found = maze_of(text) if text else None
        if found is not None:
            return found[0], found[1], "d4rl"
    return None


def max_episode_steps(env_id: str | None, name: str | None) -> int | None:
    task = maze_task(env_id, name)
    return SPECS[(task[0], task[1])].max_episode_steps if task else None


def relabel(xy: np.ndarray, robot: str, size: str, frame: str) -> np.ndarray:
    """D4RL's sparse reward against the fixed evaluation goal: 1.0 within 0.5, else 0.0."""
    goal = goal_xy(SPECS[(robot, size)], make_frame(robot, size, frame))
    return (np.linalg.norm(xy - goal, axis=1) <= GOAL_RADIUS).astype(np.float32)


def flatten_goal_obs(group: dict[str, np.ndarray], robot: str, source: str) -> np.ndarray:
    """A goal-dict observation (``observation``, ``achieved_goal``, ``desired_goal``) as the
    robot's state, ``(x, y)`` first (see the module docstring)."""
    for key in ("observation", "achieved_goal"):
        if key not in group:
            raise GenpolicyError(
                f"{source}: maze observations lack {key!r}; expected Gymnasium-Robotics' "
                "observation / achieved_goal / desired_goal"
            )
    obs = group["observation"].reshape(len(group["observation"]), -1)
    ach = group["achieved_goal"].reshape(len(group["achieved_goal"]), -1)
    if robot == "point":
        return np.asarray(obs)
    return np.concatenate([ach, obs], axis=1)


def apply_d4rl_conventions(
    arrays: dict[str, np.ndarray], robot: str, size: str, source: str
) -> dict[str, np.ndarray]:
    """The antmaze / maze2d quirks of D4RL's hdf5 files (module docstring); a new dict."""
    out = dict(arrays)
    if "terminals" not in out:
        return out  # validation names the missing key
    n = len(out["terminals"])
    term = out["terminals"].reshape(-1).astype(bool)
    tout = out["timeouts"].reshape(-1).astype(bool) if "timeouts" in out else np.zeros(n, bool)
    if robot == "point":
        out["timeouts"] = tout | term
        out["terminals"] = np.zeros(n, dtype=bool)
        return out
    if not tout.any():
        if "next_observations" in out and "observations" in out and n > 1:
            obs, nxt = out["observations"], out["next_observations"]
            gap = np.linalg.norm((obs[1:] - nxt[:-1]).reshape(n - 1, -1), axis=1) > 1e-6
            tout = np.append(gap, True)  # the end of the file cuts the last episode
        else:
            limit = SPECS[(robot, size)].max_episode_steps
            tout = np.zeros(n, dtype=bool)
            tout[limit - 1 :: limit] = True
        out["timeouts"] = tout
    return out


# ------------------------------------------------------------------ making data
def collect_maze(
    size: str,
    transitions: int,
    *,
    seed: int = 0,
    action_noise: float = 0.5,
    progress: bool = True,
    env_id: str | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """D4RL's maze2d recipe (``generate_maze2d_datasets.py``) on genpolicy's PointMaze
    (D4RL frame): a BFS planner over the maze cells hands the next cell's centre to a PD
    controller, N(0, ``action_noise``^2) is added to every action (clipped to [-1, 1]), and on
    arrival (within 0.5) or after the task's step limit a new goal is drawn uniformly among the
    open cells (centre + U(-0.25, 0.25) per axis) while the ball keeps moving; each such
    stretch is an episode ending in a timeout. Rewards are relabelled against the evaluation
    goal, terminals are all False. Returns the arrays and statistics."""
    from tqdm import tqdm

    from genpolicy.envs.gym_envs import make_env

    env_id = env_id or env_name("point", size, "d4rl")
    env = make_env(env_id, seed)
    u = env.unwrapped
    frame, spec = u.frame, u.maze
    ctrl = WaypointController(frame, spec.layout)
    cells = open_cells(spec.layout)
    rng = np.random.default_rng(seed)
    limit = spec.max_episode_steps

    def new_goal() -> np.ndarray:
        cell = cells[int(rng.integers(len(cells)))]
        return frame.cell_xy(*cell) + rng.uniform(-0.25, 0.25, 2)

    obs_l = np.empty((transitions, 4), np.float32)
    nxt_l = np.empty((transitions, 4), np.float32)
    act_l = np.empty((transitions, 2), np.float32)
    goal_l = np.empty((transitions, 2), np.float32)
    tout = np.zeros(transitions, bool)
    reached = 0
    obs, _ = env.reset(seed=seed)
    goal = new_goal()
    t = 0
    start = time.time()
    bar = tqdm(total=transitions, disable=not progress, unit="step", mininterval=2, desc=size)
    try:
        for i in range(transitions):
            act = ctrl(obs, goal)
            if action_noise > 0:
                act = np.clip(act + action_noise * rng.standard_normal(2), -1.0, 1.0)
            nxt, _, _, _, _ = env.step(act)
            obs_l[i], nxt_l[i], act_l[i], goal_l[i] = obs, nxt, act, goal
            t += 1
            arrived = bool(np.linalg.norm(nxt[:2] - goal) <= GOAL_RADIUS)
            if arrived or t >= limit:
                tout[i] = True
                reached += int(arrived)
                goal, t = new_goal(), 0
            obs = nxt  # the ball keeps moving: one long trajectory, cut into episodes
            if i % 1000 == 999:
                bar.update(1000)
        bar.update(transitions - bar.n)
    finally:
        bar.close()
        env.close()
    tout[-1] = True
    rewards = relabel(nxt_l[:, :2].astype(np.float64), "point", size, "d4rl")
    arrays = {
        "observations": obs_l,
        "actions": act_l,
        "rewards": rewards,
        "next_observations": nxt_l,
        "terminals": np.zeros(transitions, bool),
        "timeouts": tout,
    }
    stats = {
        "episodes": int(tout.sum()),
        "goals_reached": reached,
        "data_success_rate": round(reached / max(int(tout.sum()), 1), 4),
        "rollout_wall_s": round(time.time() - start, 2),
    }
    return arrays, {"goal_xy": goal_l, **stats}


def make_maze_dataset(
    size: str,
    transitions: int,
    out: str | Path,
    *,
    seed: int = 0,
    action_noise: float = 0.5,
    overwrite: bool = False,
    progress: bool = True,
    minari_out: str | Path | None = None,
    extra_metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Make a PointMaze dataset (:func:`collect_maze`) and write it in D4RL layout (and
    optionally as a Minari folder); returns the metadata written."""
    from genpolicy import __version__
    from genpolicy.data.writers import check_output, write_d4rl, write_minari

    if size not in MAZE_MAKE_SIZES:
        raise GenpolicyError(
            f"unknown maze size {size!r}; choose one of: {', '.join(MAZE_MAKE_SIZES)}"
        )
    if transitions <= 0:
        raise GenpolicyError(f"--size must be positive, got {transitions}")
    if not action_noise >= 0:
        raise GenpolicyError(f"--action-noise must be >= 0, got {action_noise}")
    out = Path(out)
    if out.exists() and not overwrite:
        raise GenpolicyError(f"{out}: already exists; pass --overwrite to replace it")
    env_id = env_name("point", size, "d4rl")
    check_output(out, overwrite)  # the folders now, before the rollout
    if minari_out is not None:
        check_output(Path(minari_out) / f"genpolicy/{out.stem}", overwrite)
    start = time.time()
    arrays, extra = collect_maze(
        size, transitions, seed=seed, action_noise=action_noise, progress=progress
    )
    wall = time.time() - start
    meta: dict[str, Any] = {
        "env_id": env_id,
        "policy": (
            "BFS cell planner + PD controller (kp 10, kd 1), goals resampled on arrival "
            f"(D4RL maze2d recipe), action noise N(0, {action_noise}^2)"
        ),
        "seed": seed,
        "action_noise": action_noise,
        "size": transitions,
        "episodes": extra["episodes"],
        "data_success_rate": extra["data_success_rate"],  # episodes that reached their goal
        "genpolicy_version": __version__,
        "rollout_wall_s": round(wall, 2),
    }
    meta.update(extra_metadata or {})
    write_d4rl(out, arrays, meta, overwrite=overwrite)
    if minari_out is not None:
        write_minari(
            minari_out,
            f"genpolicy/{out.stem}",
            arrays,
            env_id=env_id,
            metadata=meta,
            overwrite=overwrite,
        )
    return meta
