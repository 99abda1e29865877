"""D4RL reference returns and normalised scores: ``100 * (R - random) / (expert - random)``."""

from __future__ import annotations

import numpy as np

from genpolicy.errors import unknown_name

# (random, expert) episode returns from D4RL
REFERENCE_RETURNS: dict[str, tuple[float, float]] = {
    "halfcheetah": (-280.178953, 12135.0),
    "hopper": (-20.272305, 3234.3),
    "walker2d": (1.629008, 4592.3),
    "ant": (-325.6, 3879.7),
    "antmaze": (0.0, 1.0),
}

_ALIASES = (  # (substring of the lower-cased name, task); checked in order
    ("antmaze", "antmaze"),
    ("halfcheetah", "halfcheetah"),
    ("half_cheetah", "halfcheetah"),
    ("half-cheetah", "halfcheetah"),
    ("cheetah", "halfcheetah"),
    ("hopper", "hopper"),
    ("walker", "walker2d"),
    ("ant", "ant"),
)


def task_of(name: str) -> str | None:
    """The D4RL task of an environment or dataset name, or None if there is none."""
    low = name.lower()
    for sub, task in _ALIASES:
        if sub in low:
            return task
    return None


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
