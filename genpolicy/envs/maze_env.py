"""The flat-observation AntMaze / PointMaze environment (needs gymnasium-robotics: the
``maze`` extra). Made through ``gymnasium.make`` with the ids of
:data:`genpolicy.envs.mazes.MAZE_ENV_IDS`; see :mod:`genpolicy.envs.mazes` for the
observation layout, the frames, the goal and the reward."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from genpolicy.envs.mazes import (
    GOAL_RADIUS,
    ROBOTS,
    SIZES,
    SPECS,
    _gym_map,
    _robotics,
    goal_xy,
    make_frame,
)
from genpolicy.errors import GenpolicyError


class FlatMazeEnv(gym.Env):
    """A Gymnasium-Robotics PointMaze / AntMaze with a flat Box observation (the robot's
    state, ``(x, y)`` first, in the chosen frame), the goal fixed per environment and D4RL's
    sparse reward (1 within 0.5 of the goal). AntMaze terminates at the goal (D4RL's
    evaluation), PointMaze never does. ``info["success"]``: at the goal now."""

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"]}

    def __init__(
        self,
        robot: str = "point",
        size: str = "umaze",
        frame: str = "d4rl",
        render_mode: str | None = None,
    ) -> None:
        _robotics()
        if (robot, size) not in SPECS:
            raise GenpolicyError(
                f"unknown maze {robot}/{size}; robots: {', '.join(ROBOTS)}, sizes: "
                f"{', '.join(SIZES)}"
            )
        self.maze = SPECS[(robot, size)]
        self.frame = make_frame(robot, size, frame)
        self.goal = goal_xy(self.maze, self.frame)
        self.robot = robot
        self.render_mode = render_mode
        kwargs: dict[str, Any] = {
            "maze_map": _gym_map(self.frame, self.maze),
            "continuing_task": True,
            "reset_target": False,
            "reward_type": "sparse",
            "render_mode": render_mode,
        }
        if robot == "point":
            from gymnasium_robotics.envs.maze.point_maze import PointMazeEnv

            self.inner: Any = PointMazeEnv(**kwargs)
            dim = 4
        else:
            from gymnasium_robotics.envs.maze.ant_maze_v5 import AntMazeEnv

            # D4RL's 29 numbers: no contact forces (Gymnasium's Ant-v5 adds 78 by default)
            self.inner = AntMazeEnv(**kwargs, include_cfrc_ext_in_observation=False)
            dim = 29
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (dim,), np.float64)
        self.action_space = self.inner.action_space

    def _flat(self, d: dict[str, np.ndarray]) -> np.ndarray:
        xy = np.asarray(d["achieved_goal"], dtype=np.float64) + self.frame.offset
        if self.robot == "point":
            out = np.array(d["observation"], dtype=np.float64)
            out[:2] = xy
            return out
        return np.concatenate([xy, np.asarray(d["observation"], dtype=np.float64)])

    def _success(self, obs: np.ndarray) -> bool:
        return bool(np.linalg.norm(obs[:2] - self.goal) <= GOAL_RADIUS)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        d, _ = self.inner.reset(seed=seed, options=options)
        obs = self._flat(d)
        return obs, {"success": self._success(obs)}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        d, _, _, _, _ = self.inner.step(np.asarray(action, dtype=np.float64))
        obs = self._flat(d)
        success = self._success(obs)
        terminated = success and self.robot == "ant"  # D4RL's antmaze evaluation ends there
        return obs, float(success), terminated, False, {"success": success}

    def set_state_xy(self, xy: np.ndarray) -> None:
        """Move the robot to ``xy`` (frame coordinates) at rest (used by tests and tools)."""
        data = self.inner.data
        data.qpos[:2] = np.asarray(xy, dtype=np.float64) - self.frame.offset
        data.qvel[:] = 0.0
        import mujoco

        mujoco.mj_forward(self.inner.model, data)

    def render(self) -> Any:
        return self.inner.render()

    def close(self) -> None:
        self.inner.close()
