"""D4RL reference returns and normalised scores: ``100 * (R - random) / (expert - random)``."""

from __future__ import annotations

import re

import numpy as np

from genpolicy.errors import unknown_name

# (random, expert) episode returns from D4RL
REFERENCE_RETURNS: dict[str, tuple[float, float]] = {
    "halfcheetah": (-280.178953, 12135.0),
    "hopper": (-20.272305, 3234.3),
    "walker2d": (1.629008, 4592.3),
    "ant": (-325.6, 3879.7),
    "antmaze": (0.0, 1.0),
    # D4RL maze2d-<size>-v1 (sparse) and maze2d-<size>-dense-v1, d4rl/infos.py REF_MIN_SCORE /
    # REF_MAX_SCORE; PointMaze is scored with these (genpolicy.envs.mazes)
    "maze2d-umaze": (23.85, 161.86),
    "maze2d-medium": (13.13, 277.39),
    "maze2d-large": (6.7, 273.99),
    "maze2d-umaze-dense": (68.537689, 193.66285642381482),
    "maze2d-medium-dense": (44.264742, 297.4552547777125),
    "maze2d-large-dense": (30.569041, 303.4857382709002),
}

# whole lower-case tokens of a name (split at anything but letters and digits) -> task;
# tokens, not substrings, so "elephant" is no ant and "antmaze-umaze-v2" is antmaze, not ant
_TOKENS: dict[str, str] = {
    "antmaze": "antmaze",
    "halfcheetah": "halfcheetah",
    "cheetah": "halfcheetah",  # half_cheetah, half-cheetah
    "hopper": "hopper",
    "walker2d": "walker2d",
    "walker": "walker2d",
    "ant": "ant",
}


def _tokens(name: str) -> list[str]:
    return [t for t in re.split(r"[^a-z0-9]+", name.lower()) if t]


def task_of(name: str) -> str | None:
    """The D4RL task of an environment or dataset name, or None if there is none.

    Matched on whole tokens: 'Hopper-v5', 'hopper-medium-v2', 'mujoco/walker2d/expert-v0',
    'AntMaze_UMaze-v4' (antmaze) and 'ant-medium-v2' (ant) have one; 'elephant' has none.
    PointMaze / maze2d names need their size: 'maze2d-umaze-v1', 'PointMaze_Medium-v3' and
    'pointmaze-large-v1' are maze2d-umaze / -medium / -large ('-dense' when a token says so).
    """
    tokens = _tokens(name)
    if "maze2d" in tokens or "pointmaze" in tokens:
        from genpolicy.envs.mazes import maze_of

        found = maze_of(name)
        if found is None:
            return None
        dense = "dense" in tokens or any(t.endswith("dense") for t in tokens)
        return f"maze2d-{found[1]}" + ("-dense" if dense else "")
    for token in tokens:
        if token in _TOKENS:
            return _TOKENS[token]
    return None


def task_for(env_id: str | None, dataset: str | None = None) -> str | None:
    """The task whose reference returns score a run: the environment's first, the dataset
    name's only when the environment names none (or is unknown).

    A ``module:Env-vN`` id is matched on ``Env-vN`` only (a module name is no task).
    """
    if env_id:
        task = task_of(env_id.split(":", 1)[-1])
        if task is not None:
            return task
    return task_of(dataset) if dataset else None


def reference_returns(name: str) -> tuple[float, float]:
    """``(random, expert)`` returns for names like 'hopper', 'Hopper-v5', 'hopper-medium-v2'."""
    task = task_of(name)
    if task is None:
        raise unknown_name("task for score normalisation", name, REFERENCE_RETURNS)
    return REFERENCE_RETURNS[task]


def normalized_score(name: str, returns: float | np.ndarray) -> float | np.ndarray:
    """D4RL normalised score of raw episode return(s) on the task that ``name`` refers to."""
    lo, hi = reference_returns(name)
    scores = 100.0 * (np.asarray(returns, dtype=np.float64) - lo) / (hi - lo)
    if scores.ndim == 0:
        return float(scores)
    return scores
