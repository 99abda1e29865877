"""Checks on raw dataset arrays; each failure is a one-line ``GenpolicyError`` naming the
file (``source``) and the key, and saying what to fix."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from genpolicy.errors import GenpolicyError

REQUIRED_KEYS = ("observations", "actions", "rewards", "terminals")
OPTIONAL_KEYS = ("timeouts", "next_observations")
ACTION_TOLERANCE = 1e-4


def validate_arrays(arrays: Mapping[str, np.ndarray], source: str) -> None:
    """Missing keys, empty data, length mismatches, NaN/inf values, no episode end."""
    for key in REQUIRED_KEYS:
        if key not in arrays:
            raise GenpolicyError(
                f"{source}: missing key {key!r}; a dataset needs "
                f"{', '.join(REQUIRED_KEYS)} (optional: {', '.join(OPTIONAL_KEYS)})"
            )
    n = len(arrays["observations"])
    if n == 0:
        raise GenpolicyError(f"{source}: key 'observations' is empty; the dataset has no data")
    for key, arr in arrays.items():
        if arr.ndim == 0:
            raise GenpolicyError(f"{source}: key {key!r} is a scalar; expected one row per step")
        if len(arr) != n:
            raise GenpolicyError(
                f"{source}: key {key!r} has {len(arr)} rows but 'observations' has {n}; "
                "every key needs one row per transition"
            )
    obs_shape = arrays["observations"].shape[1:]
    if "next_observations" in arrays and arrays["next_observations"].shape[1:] != obs_shape:
        raise GenpolicyError(
            f"{source}: key 'next_observations' has shape {arrays['next_observations'].shape} "
            f"but 'observations' has {arrays['observations'].shape}; they must match"
        )
    for key in ("rewards", "terminals", "timeouts"):
        if key in arrays and arrays[key].reshape(n, -1).shape[1] != 1:
            raise GenpolicyError(
                f"{source}: key {key!r} has shape {arrays[key].shape}; expected one value per row"
            )
    for key, arr in arrays.items():
        if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
            bad = int(np.flatnonzero(~np.isfinite(arr.reshape(n, -1)).all(axis=1))[0])
            raise GenpolicyError(
                f"{source}: key {key!r} holds NaN or inf (first at row {bad}); "
                "clean or drop those transitions"
            )
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
            raise GenpolicyError(
                f"{source}: key {key!r} has non-numeric dtype {arr.dtype}; store numbers"
            )
    ends = arrays["terminals"].astype(bool).any()
    if "timeouts" in arrays:
        ends = ends or arrays["timeouts"].astype(bool).any()
    if not ends:
        keys = "'terminals' or 'timeouts'" if "timeouts" in arrays else "'terminals'"
        raise GenpolicyError(
            f"{source}: no episode end: {keys} is never true; "
            "mark where episodes end (time-limit ends go in 'timeouts')"
        )


_ENV_FIX = (
    "pick the matching environment (data.env_id), or skip this check "
    "(genpolicy dataset info --no-env-check; env_check=False in Python)"
)


def validate_against_space(
    observations: np.ndarray,
    actions: np.ndarray,
    *,
    obs_dim: int,
    act_low: np.ndarray,
    act_high: np.ndarray,
    env_id: str,
    source: str,
) -> None:
    """Observation size and action bounds against the evaluation environment."""
    if observations.shape[1] != obs_dim:
        raise GenpolicyError(
            f"{source}: key 'observations' has size {observations.shape[1]} but {env_id} "
            f"observes {obs_dim}; {_ENV_FIX}"
        )
    if actions.shape[1] != len(act_low):
        raise GenpolicyError(
            f"{source}: key 'actions' has size {actions.shape[1]} but {env_id} takes "
            f"{len(act_low)}; {_ENV_FIX}"
        )
    low = actions < act_low - ACTION_TOLERANCE
    high = actions > act_high + ACTION_TOLERANCE
    if low.any() or high.any():
        row = int(np.flatnonzero((low | high).any(axis=1))[0])
        raise GenpolicyError(
            f"{source}: key 'actions' leaves the action space of {env_id} "
            f"[{float(np.min(act_low)):g}, {float(np.max(act_high)):g}] (first at row {row}, "
            f"min {float(actions.min()):g}, max {float(actions.max()):g}); clip the actions"
        )
