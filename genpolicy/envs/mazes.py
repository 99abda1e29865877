"""AntMaze and PointMaze: D4RL's sparse-reward navigation tasks on Gymnasium-Robotics
(optional extra ``maze``), with a flat observation, a goal fixed per environment and D4RL's
reward, plus the maze layouts, a cell planner and a waypoint controller that need no
simulator.

Observation (one order everywhere, the one D4RL's files use): the robot's state with its
``(x, y)`` first and no goal, because the evaluation goal is fixed per environment:

- PointMaze / maze2d: ``[x, y, vx, vy]`` (4);
- AntMaze: ``[x, y, z, qw, qx, qy, qz, 8 joint angles, 14 velocities]`` (29) = MuJoCo's
  ``qpos`` then ``qvel``: Gymnasium-Robotics' ``achieved_goal`` followed by its
  ``observation``. ``desired_goal`` is dropped.

Two coordinate frames (a translation of the same maze apart; the environment builds the
Gymnasium-Robotics maze so that no rotation or mirror is needed, see :class:`Frame`):

- ``d4rl``: the frame of D4RL's hdf5 files. maze2d: ``x`` along the map's rows, ``y`` along its
  columns, cell ``(i, j)`` at ``(i - 0.2, j - 0.2)`` (D4RL's particle sits 0.2 off its cell
  origin); antmaze: ``x = 4 (j - 1)``, ``y = 4 (i - 1)`` (the start cell (1, 1) at the origin).
- ``gymnasium``: Gymnasium-Robotics' own frame (centred maze, ``y`` up), the frame of
  Minari's ``D4RL/pointmaze/*`` and ``D4RL/antmaze/*`` datasets.

Reward and end of episode follow D4RL's evaluation: reward 1 within 0.5 of the goal, else 0.
PointMaze never terminates (300 / 600 / 800 steps; the return counts the steps spent at the
goal); AntMaze terminates at the goal (700 / 1000 / 1000 steps; the return is 0 or 1).
``info["success"]`` says whether the robot is at the goal now.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from genpolicy.errors import GenpolicyError, missing_extra

SIZES = ("umaze", "medium", "large")
ROBOTS = ("point", "ant")
GOAL_RADIUS = 0.5  # D4RL's success radius (maze2d and antmaze)

# the layouts of D4RL (maze2d U_MAZE / MEDIUM_MAZE / LARGE_MAZE, antmaze U_MAZE / BIG_MAZE /
# HARDEST_MAZE); 1 = wall
LAYOUTS: dict[str, tuple[str, ...]] = {
    "umaze": ("11111", "10001", "11101", "10001", "11111"),
    "medium": (
        "11111111",
        "10011001",
        "10010001",
        "11000111",
        "10010001",
        "10100101",
        "10001001",
        "11111111",
    ),
    "large": (
        "111111111111",
        "100001000001",
        "101101010101",
        "100000010001",
        "101111011101",
        "100101000001",
        "110101010111",
        "100100010001",
        "111111111111",
    ),
}


@dataclass(frozen=True)
class MazeSpec:
    """One evaluation task: robot, layout, fixed goal cell, start cells, time limit."""

    robot: str  # "point" | "ant"
    size: str  # "umaze" | "medium" | "large"
    goal_cell: tuple[int, int]  # (row, column) in LAYOUTS[size]
    reset_cell: tuple[int, int] | None  # None: any open cell (D4RL maze2d)
    max_episode_steps: int

    @property
    def layout(self) -> np.ndarray:
        return maze_array(self.size)

    @property
    def scale(self) -> float:
        return 4.0 if self.robot == "ant" else 1.0


# D4RL: maze2d-<size>-v1 (goal 'G' of the maze2d maps) and antmaze-<size>-*-v2 (the *_TEST maps)
SPECS: dict[tuple[str, str], MazeSpec] = {
    ("point", "umaze"): MazeSpec("point", "umaze", (1, 1), None, 300),
    ("point", "medium"): MazeSpec("point", "medium", (6, 6), None, 600),
    ("point", "large"): MazeSpec("point", "large", (7, 9), None, 800),
    ("ant", "umaze"): MazeSpec("ant", "umaze", (3, 1), (1, 1), 700),
    ("ant", "medium"): MazeSpec("ant", "medium", (6, 6), (1, 1), 1000),
    ("ant", "large"): MazeSpec("ant", "large", (7, 9), (1, 1), 1000),
}

# registered ids: D4RL frame (versions of D4RL's tasks) and Gymnasium-Robotics frame (versions
# of Gymnasium-Robotics' environments)
FRAMES = ("d4rl", "gymnasium")


def env_name(robot: str, size: str, frame: str) -> str:
    if frame == "d4rl":
        return f"genpolicy/maze2d-{size}-v1" if robot == "point" else f"genpolicy/antmaze-{size}-v2"
    gym_size = {"umaze": "UMaze", "medium": "Medium", "large": "Large"}[size]
    if robot == "point":
        return f"genpolicy/PointMaze_{gym_size}-v3"
    return f"genpolicy/AntMaze_{gym_size}-v5"


MAZE_ENV_IDS: dict[str, tuple[str, str, str]] = {
    env_name(r, s, f): (r, s, f) for r in ROBOTS for s in SIZES for f in FRAMES
}


def maze_array(size: str) -> np.ndarray:
    if size not in LAYOUTS:
        raise GenpolicyError(f"unknown maze size {size!r}; choose one of: {', '.join(SIZES)}")
    return np.array([[int(c) for c in row] for row in LAYOUTS[size]], dtype=np.int64)


# ------------------------------------------------------------------ frames
@dataclass(frozen=True)
class Frame:
    """How the Gymnasium-Robotics maze is built (``grid``: the map it is given) and the
    offset that turns its ``(x, y)`` into the frame's: ``frame_xy = gym_xy + offset``.

    ``cell_xy(i, j)`` is the centre of layout cell ``(i, j)`` in the frame.
    """

    name: str
    grid: np.ndarray  # the map handed to Gymnasium-Robotics (transformed layout)
    offset: np.ndarray  # (2,)
    scale: float
    rows: int
    cols: int
    robot: str

    def cell_xy(self, i: float, j: float) -> np.ndarray:
        s, L, W = self.scale, self.rows, self.cols
        if self.name == "gymnasium":
            return np.array([(j + 0.5) * s - W * s / 2, L * s / 2 - (i + 0.5) * s])
        if self.robot == "ant":
            return np.array([(j - 1.0) * s, (i - 1.0) * s])
        return np.array([i - 0.2, j - 0.2])

    def xy_cell(self, xy: np.ndarray) -> tuple[int, int]:
        """The layout cell that holds the point ``xy`` (frame coordinates)."""
        s, L, W = self.scale, self.rows, self.cols
        x, y = float(xy[0]), float(xy[1])
        if self.name == "gymnasium":
            return int(np.floor((L * s / 2 - y) / s)), int(np.floor((x + W * s / 2) / s))
        if self.robot == "ant":
            return int(np.floor(y / s + 1.5)), int(np.floor(x / s + 1.5))
        return int(np.floor(x + 0.7)), int(np.floor(y + 0.7))

    def gym_cell(self, cell: tuple[int, int]) -> tuple[int, int]:
        """Layout cell -> the cell of ``grid`` that is the same place."""
        i, j = cell
        if self.name == "gymnasium":
            return i, j
        if self.robot == "ant":
            return self.rows - 1 - i, j
        return self.cols - 1 - j, i


def make_frame(robot: str, size: str, frame: str) -> Frame:
    lay = maze_array(size)
    L, W = lay.shape
    s = 4.0 if robot == "ant" else 1.0
    if frame == "gymnasium":
        grid, off = lay, np.zeros(2)
    elif frame == "d4rl" and robot == "ant":
        # rows flipped: the Gymnasium maze's y then grows with the row, as D4RL's does
        grid, off = lay[::-1], np.array([W * s / 2 - 1.5 * s, L * s / 2 - 1.5 * s])
    elif frame == "d4rl":
        # transposed (x along rows, y along columns, as maze2d), D4RL's 0.2 offset
        grid, off = lay.T[::-1], np.array([L / 2 - 0.7, W / 2 - 0.7])
    else:
        raise GenpolicyError(f"unknown maze frame {frame!r}; choose one of: {', '.join(FRAMES)}")
    return Frame(frame, np.ascontiguousarray(grid), off, s, L, W, robot)


def goal_xy(spec: MazeSpec, frame: Frame) -> np.ndarray:
    """The fixed evaluation goal: D4RL maze2d's target (the goal cell's index, i.e. 0.2 off
    its centre, in the d4rl frame) and, for AntMaze, the goal cell's centre."""
    if frame.name == "d4rl" and spec.robot == "point":
        return np.array(spec.goal_cell, dtype=np.float64)
    return frame.cell_xy(*spec.goal_cell)


# ------------------------------------------------------------------ planning (no simulator)
def cell_distances(layout: np.ndarray, goal: tuple[int, int]) -> np.ndarray:
    """Shortest path length in cells from every open cell to ``goal`` (BFS over the 4-connected
    open cells; -1 for walls and unreachable cells)."""
    dist = np.full(layout.shape, -1, dtype=np.int64)
    if layout[goal] != 0:
        raise GenpolicyError(f"goal cell {goal} is a wall")
    dist[goal] = 0
    queue = deque([goal])
    while queue:
        i, j = queue.popleft()
        for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            a, b = i + di, j + dj
            if 0 <= a < layout.shape[0] and 0 <= b < layout.shape[1]:
                if layout[a, b] == 0 and dist[a, b] < 0:
                    dist[a, b] = dist[i, j] + 1
                    queue.append((a, b))
    return dist


def open_cells(layout: np.ndarray) -> list[tuple[int, int]]:
    return [(int(i), int(j)) for i, j in zip(*np.nonzero(layout == 0), strict=True)]


class WaypointController:
    """D4RL's maze2d data policy: a planner over the maze cells hands the centre of the next
    cell on a shortest path to a PD controller (``a = kp (waypoint - x) - kd v``, clipped);
    in the goal's cell the waypoint is the goal itself."""

    def __init__(self, frame: Frame, layout: np.ndarray, kp: float = 10.0, kd: float = 1.0):
        self.frame, self.layout, self.kp, self.kd = frame, layout, kp, kd
        self._cache: dict[tuple[int, int], np.ndarray] = {}

    def distances(self, goal_cell: tuple[int, int]) -> np.ndarray:
        if goal_cell not in self._cache:
            self._cache[goal_cell] = cell_distances(self.layout, goal_cell)
        return self._cache[goal_cell]

    def waypoint(self, xy: np.ndarray, goal: np.ndarray) -> np.ndarray:
        gcell = self.frame.xy_cell(goal)
        cell = self.frame.xy_cell(xy)
        dist = self.distances(gcell)
        if cell == gcell or not (0 <= cell[0] < dist.shape[0] and 0 <= cell[1] < dist.shape[1]):
            return goal
        if dist[cell] < 0:  # inside a wall's cell (clipping a corner): head for any open neighbour
            best = None
        else:
            best = None
            for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                a, b = cell[0] + di, cell[1] + dj
                if 0 <= a < dist.shape[0] and 0 <= b < dist.shape[1] and 0 <= dist[a, b]:
                    if dist[a, b] < dist[cell] and (best is None or dist[a, b] < dist[best]):
                        best = (a, b)
        if best is None:
            return goal
        nxt = self.frame.cell_xy(*best)
        return goal if best == gcell else nxt

    def __call__(self, state: np.ndarray, goal: np.ndarray) -> np.ndarray:
        xy, vel = state[:2], state[2:4]
        target = self.waypoint(xy, goal)
        return np.clip(self.kp * (target - xy) - self.kd * vel, -1.0, 1.0)


# ------------------------------------------------------------------ the environment
def have_robotics() -> bool:
    return importlib.util.find_spec("gymnasium_robotics") is not None


def _robotics() -> Any:
    """Import gymnasium_robotics, without the notice it prints to stderr on import (about
    its Adroit environments, which genpolicy does not use)."""
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            import gymnasium_robotics
    except ModuleNotFoundError:
        raise missing_extra("gymnasium-robotics", "maze") from None
    return gymnasium_robotics


def _gym_map(frame: Frame, spec: MazeSpec) -> list[list[int | str]]:
    grid: list[list[int | str]] = [[int(v) for v in row] for row in frame.grid]
    gi, gj = frame.gym_cell(spec.goal_cell)
    grid[gi][gj] = "g"
    if spec.reset_cell is not None:
        ri, rj = frame.gym_cell(spec.reset_cell)
        grid[ri][rj] = "r"
    return grid


def register_maze_envs() -> bool:
    """Register :data:`MAZE_ENV_IDS` with Gymnasium (idempotent). Returns False, registering
    nothing, when gymnasium-robotics is not installed (the ids are then unknown to Gymnasium,
    so datasets load without the environment checks)."""
    if not have_robotics():
        return False
    import gymnasium as gym

    for env_id, (robot, size, frame) in MAZE_ENV_IDS.items():
        if env_id in gym.envs.registry:
            continue
        gym.register(
            id=env_id,
            entry_point="genpolicy.envs.maze_env:FlatMazeEnv",
            kwargs={"robot": robot, "size": size, "frame": frame},
            max_episode_steps=SPECS[(robot, size)].max_episode_steps,
        )
    return True


def require_maze_env(env_id: str) -> None:
    """Raise the install hint for a maze id when gymnasium-robotics is missing."""
    if env_id in MAZE_ENV_IDS and not register_maze_envs():
        raise missing_extra("gymnasium-robotics", "maze")


# ------------------------------------------------------------------ names -> environments
def _tokens(name: str) -> list[str]:
    import re

    return [t for t in re.split(r"[^a-z0-9]+", name.lower()) if t]


def maze_of(name: str) -> tuple[str, str] | None:
    """``(robot, size)`` of a maze task or dataset name: 'antmaze-umaze-diverse-v2' ->
    ('ant', 'umaze'), 'maze2d-large-v1' / 'PointMaze_Large-v3' / 'pointmaze-medium-v1' ->
    ('point', ...). Whole tokens; 'UMazeDense' counts as umaze."""
    toks = _tokens(name.split(":", 1)[-1])
    robot = None
    if "antmaze" in toks:
        robot = "ant"
    elif "maze2d" in toks or "pointmaze" in toks:
        robot = "point"
    if robot is None:
        return None
    for t in toks:
        for size in SIZES:
            if t == size or t == f"{size}dense":
                return robot, size
    return None


def guess_maze_env_id(name: str) -> str | None:
    """The environment that evaluates a maze dataset name (D4RL frame: D4RL's files and the
    datasets genpolicy makes); Minari datasets name theirs through ``env_spec``."""
    found = maze_of(name)
    return env_name(found[0], found[1], "d4rl") if found else None


def minari_env_id(spec_id: str) -> str | None:
    """Our flat environment for a Minari dataset's Gymnasium-Robotics id
    ('AntMaze_UMaze-v4' -> 'genpolicy/AntMaze_UMaze-v5', Gymnasium frame)."""
    base = spec_id.split(":", 1)[-1].split("/")[-1]
    if not base.startswith(("AntMaze_", "PointMaze_")):
        return None
    found = maze_of(base)
    return env_name(found[0], found[1], "gymnasium") if found else None
