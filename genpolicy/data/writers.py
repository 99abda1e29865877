"""Writers for D4RL-layout hdf5 and Minari dataset folders.

Both refuse to replace an existing output unless ``overwrite=True``, and write to a
temporary name first so that an interrupted run leaves no half-written dataset behind.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from genpolicy.data.dataset import episode_ends_of
from genpolicy.errors import GenpolicyError

FLOAT_KEYS = ("observations", "actions", "rewards", "next_observations")
BOOL_KEYS = ("terminals", "timeouts")


def _check_target(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise GenpolicyError(f"{path}: already exists; pass --overwrite to replace it")


def writable_folder(folder: str | Path) -> Path:
    """Make ``folder`` (and its parents) and check that a file can be created in it, so that
    an output that cannot be written is refused before any rollout, not after."""
    import tempfile

    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as exc:
        why = "a file is in the way" if folder.is_file() else exc.strerror or exc
        raise GenpolicyError(
            f"cannot write in {folder} ({why}); choose an output folder you can write"
        ) from None
    return folder


def check_output(path: str | Path, overwrite: bool) -> Path:
    """Refuse an existing ``path`` (unless ``overwrite``) or one that cannot be written."""
    path = Path(path)
    _check_target(path, overwrite)
    writable_folder(path.parent)
    return path


def _attr(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool | int | float | str | np.generic):
        return value
    return json.dumps(value)


def write_d4rl(
    path: str | Path,
    arrays: Mapping[str, np.ndarray],
    metadata: Mapping[str, Any] | None = None,
    *,
    overwrite: bool = False,
) -> Path:
    """Write ``observations, actions, rewards, terminals, timeouts, next_observations``
    (float32 / bool) at the root and ``metadata`` as attrs of the ``metadata`` group."""
    path = Path(path)
    _check_target(path, overwrite)
    for key in (*FLOAT_KEYS, *BOOL_KEYS):
        if key not in arrays:
            raise GenpolicyError(f"cannot write {path}: key {key!r} missing from the arrays")
    writable_folder(path.parent)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with h5py.File(tmp, "w") as f:
            for key in FLOAT_KEYS:
                f.create_dataset(key, data=np.asarray(arrays[key], dtype=np.float32))
            for key in BOOL_KEYS:
                f.create_dataset(key, data=np.asarray(arrays[key]).astype(bool))
            group = f.create_group("metadata")
            for key, value in (metadata or {}).items():
                group.attrs[key] = _attr(value)
        os.replace(tmp, path)
    except OSError as exc:  # e.g. the disk filled up: no half-written file is left
        raise GenpolicyError(f"cannot write {path} ({exc.strerror or exc})") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _box_json(low: np.ndarray, high: np.ndarray) -> str:
    return json.dumps(
        {
            "type": "Box",
            "dtype": "float32",
            "shape": list(low.shape),
            "low": np.asarray(low, dtype=np.float32).tolist(),
            "high": np.asarray(high, dtype=np.float32).tolist(),
        }
    )


def write_minari(
    root: str | Path,
    dataset_id: str,
    arrays: Mapping[str, np.ndarray],
    *,
    env_id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a Minari dataset folder ``<root>/<dataset_id>/data/{main_data.hdf5,
    metadata.json}`` (one ``episode_<i>`` group per episode, T+1 observations each).

    Within an episode ``next_observations[t]`` must equal ``observations[t+1]`` (true for
    rolled-out data); the final next observation closes the episode.
    """
    dest = Path(root) / dataset_id
    _check_target(dest, overwrite)
    obs = np.asarray(arrays["observations"], dtype=np.float32)
    nxt = np.asarray(arrays["next_observations"], dtype=np.float32)
    act = np.asarray(arrays["actions"], dtype=np.float32)
    rew = np.asarray(arrays["rewards"], dtype=np.float64)
    term = np.asarray(arrays["terminals"]).astype(bool)
    tout = np.asarray(arrays["timeouts"]).astype(bool)
    ends = episode_ends_of(term, tout)
    starts = np.concatenate([[0], ends[:-1] + 1])
    for s, e in zip(starts, ends, strict=True):
        if e > s and not np.allclose(nxt[s:e], obs[s + 1 : e + 1]):
            raise GenpolicyError(
                f"cannot write Minari dataset {dataset_id!r}: 'next_observations' do not follow "
                f"'observations' within the episode at rows {s}-{e}"
            )
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    data_dir = tmp / "data"
    data_dir.mkdir(parents=True)
    try:
        with h5py.File(data_dir / "main_data.hdf5", "w") as f:
            for i, (s, e) in enumerate(zip(starts, ends, strict=True)):
                g = f.create_group(f"episode_{i}")
                g.attrs["id"] = i
                g.attrs["total_steps"] = int(e - s + 1)
                g.create_dataset(
                    "observations", data=np.concatenate([obs[s : e + 1], nxt[e : e + 1]])
                )
                g.create_dataset("actions", data=act[s : e + 1])
                g.create_dataset("rewards", data=rew[s : e + 1])
                g.create_dataset("terminations", data=term[s : e + 1])
                g.create_dataset(
                    "truncations",
                    data=tout[s : e + 1] | ((np.arange(s, e + 1) == e) & ~term[s : e + 1]),
                )
                g.create_group("infos")
        meta: dict[str, Any] = {
            "dataset_id": dataset_id,
            "total_episodes": int(len(ends)),
            "total_steps": int(len(obs)),
            "data_format": "hdf5",
            "observation_space": _box_json(
                np.full(obs.shape[1], -np.inf, np.float32),
                np.full(obs.shape[1], np.inf, np.float32),
            ),
        }
        spec = _env_spec_json(env_id) if env_id else None
        if spec is not None:
            meta["env_spec"] = spec
            meta["action_space"] = spec_action_space_json(env_id)  # type: ignore[arg-type]
        else:
            meta["action_space"] = _box_json(act.min(axis=0), act.max(axis=0))
        try:
            import minari

            meta["minari_version"] = str(minari.__version__)
        except ModuleNotFoundError:
            meta["minari_version"] = "0.5.4"
        for key, value in (metadata or {}).items():
            meta.setdefault(key, value if isinstance(value, int | float | str) else str(value))
        (data_dir / "metadata.json").write_text(json.dumps(meta))
        if dest.exists():
            shutil.rmtree(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return dest


def _env_spec_json(env_id: str) -> str | None:
    try:
        import gymnasium as gym
    except ModuleNotFoundError:
        return None
    from genpolicy.envs.gym_envs import registry_id

    name = registry_id(env_id)  # a 'module:Env-v0' id registers on import
    if name not in gym.envs.registry:
        return None
    return str(gym.spec(name).to_json())


def spec_action_space_json(env_id: str) -> str:
    from genpolicy.envs.gym_envs import env_spaces

    spaces = env_spaces(env_id)
    assert spaces is not None
    return _box_json(spaces.act_low, spaces.act_high)
