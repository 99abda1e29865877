"""Readers for D4RL-layout hdf5, npz and Minari dataset folders, and ``load_dataset``.

A dataset is named by path (``.hdf5``/``.h5``, ``.npz``, a Minari dataset folder) or by id:
a Minari id such as ``mujoco/hopper/medium-v0`` (under ``MINARI_DATASETS_PATH``, default
``~/.minari/datasets``) or a genpolicy suite name such as ``hopper-medium-v5`` (file
``<name>.hdf5`` under ``GENPOLICY_DATASETS``, default ``~/.genpolicy/datasets``, then
``./datasets``). Files are only ever opened for reading.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genpolicy.data.dataset import OfflineDataset
from genpolicy.data.validate import validate_against_space
from genpolicy.errors import GenpolicyError

HDF5_SUFFIXES = (".hdf5", ".h5")
D4RL_KEYS = ("observations", "actions", "rewards", "terminals", "timeouts", "next_observations")


@dataclass
class RawData:
    """Arrays as read from a file, before validation and conversion."""

    arrays: dict[str, np.ndarray]
    source: str  # the file, for error messages
    name: str
    env_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def _h5py() -> Any:
    import h5py

    return h5py


def _decode(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        return value.tolist() if value.size < 64 else None
    if isinstance(value, np.generic):
        return value.item()
    return value


# ---------------------------------------------------------------------- D4RL hdf5
def read_d4rl_hdf5(path: str | Path) -> RawData:
    """Root datasets ``observations, actions, rewards, terminals[, timeouts,
    next_observations]``; ``metadata`` attrs and scalar datasets are kept as metadata."""
    h5py = _h5py()
    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise GenpolicyError(f"{path}: cannot open as hdf5 ({exc}); is it a D4RL file?") from None
    with f:
        arrays: dict[str, np.ndarray] = {}
        for key in D4RL_KEYS:
            if key in f:
                node = f[key]
                if not isinstance(node, h5py.Dataset):
                    raise GenpolicyError(f"{path}: key {key!r} is a group; expected an array")
                arrays[key] = node[()]
        meta: dict[str, Any] = {str(k): _decode(v) for k, v in f.attrs.items()}
        if "metadata" in f:
            group = f["metadata"]
            meta.update({str(k): _decode(v) for k, v in group.attrs.items()})
            if isinstance(group, h5py.Group):

                def visit(name: str, node: Any) -> None:
                    if isinstance(node, h5py.Dataset) and node.size < 64:
                        meta[name] = _decode(node[()])

                group.visititems(visit)
    env_id = meta.get("env_id") or meta.get("env")
    return RawData(arrays, str(path), path.stem, env_id if isinstance(env_id, str) else None, meta)


# ---------------------------------------------------------------------- npz
def read_npz(path: str | Path) -> RawData:
    """An ``.npz`` with the D4RL keys (plus optional string ``env_id``)."""
    path = Path(path)
    import zipfile

    if path.is_file() and not zipfile.is_zipfile(path):  # np.load would try a pickle
        raise GenpolicyError(
            f"{path}: not an npz file (an .npz is a zip of .npy arrays, as numpy.savez "
            "writes); pass an .npz, .hdf5 or Minari dataset"
        )
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files if k in D4RL_KEYS}
            env_id = str(z["env_id"]) if "env_id" in z.files else None
    except (OSError, ValueError) as exc:
        raise GenpolicyError(f"{path}: cannot read as npz ({exc})") from None
    return RawData(arrays, str(path), path.stem, env_id)


# ---------------------------------------------------------------------- Minari
def minari_root() -> Path:
    return Path(os.environ.get("MINARI_DATASETS_PATH", Path.home() / ".minari" / "datasets"))


def _minari_data_dir(path: Path) -> Path | None:
    for cand in (path / "data", path):
        if (cand / "main_data.hdf5").is_file():
            return cand
    return None


def _flat_obs(node: Any, source: str, key: str) -> np.ndarray:
    """An observation node: an array, or a group of arrays (Dict space) concatenated in
    sorted key order."""
    h5py = _h5py()
    if isinstance(node, h5py.Dataset):
        arr = node[()]
        return arr.reshape(len(arr), -1)
    parts = []
    for k in sorted(node.keys()):
        parts.append(_flat_obs(node[k], source, f"{key}/{k}"))
    if not parts:
        raise GenpolicyError(f"{source}: key {key!r} is an empty group; expected observations")
    return np.concatenate(parts, axis=1)


def read_minari(path: str | Path) -> RawData:
    """A Minari dataset folder (``<dataset>/data/main_data.hdf5`` + ``metadata.json``),
    read with h5py so that minari itself is optional."""
    h5py = _h5py()
    path = Path(path)
    data_dir = _minari_data_dir(path)
    if data_dir is None:
        raise GenpolicyError(
            f"{path}: not a Minari dataset folder (no data/main_data.hdf5); "
            "pass the folder that holds data/"
        )
    meta: dict[str, Any] = {}
    meta_file = data_dir / "metadata.json"
    if meta_file.is_file():
        try:
            meta = json.loads(meta_file.read_text())
        except json.JSONDecodeError as exc:
            raise GenpolicyError(f"{meta_file}: invalid JSON ({exc})") from None
    main = data_dir / "main_data.hdf5"
    src = str(main)
    env_id = None
    spec = meta.get("env_spec")
    if isinstance(spec, str):
        try:
            spec = json.loads(spec)
        except json.JSONDecodeError:
            spec = None
    if isinstance(spec, dict) and isinstance(spec.get("id"), str):
        env_id = spec["id"]
    maze = _minari_maze(env_id)  # (robot, size, our env id) for D4RL antmaze / pointmaze
    keys = ("observations", "actions", "rewards", "terminations", "truncations")
    cols: dict[str, list[np.ndarray]] = {k: [] for k in D4RL_KEYS}
    with h5py.File(main, "r") as f:
        names = sorted(
            (k for k in f.keys() if k.startswith("episode_")), key=lambda s: int(s.split("_")[1])
        )
        if not names:
            raise GenpolicyError(f"{src}: no 'episode_<i>' groups; not a Minari dataset")
        for ep_name in names:
            ep = f[ep_name]
            for k in keys:
                if k not in ep:
                    raise GenpolicyError(
                        f"{src}: missing key '{ep_name}/{k}'; Minari episodes need "
                        f"{', '.join(keys)}"
                    )
            node = ep["observations"]
            if maze is not None and isinstance(node, h5py.Group):
                from genpolicy.data.make.maze import flatten_goal_obs

                obs = flatten_goal_obs({k: node[k][()] for k in node.keys()}, maze[0], src)
            else:
                obs = _flat_obs(node, src, f"{ep_name}/observations")
            act = ep["actions"][()]
            t = len(act)
            act = act.reshape(t, -1)
            if len(obs) != t + 1:
                raise GenpolicyError(
                    f"{src}: key '{ep_name}/observations' has {len(obs)} rows but "
                    f"'{ep_name}/actions' has {t}; Minari stores T+1 observations for T steps"
                )
            for k in ("rewards", "terminations", "truncations"):
                if len(ep[k]) != t:
                    raise GenpolicyError(
                        f"{src}: key '{ep_name}/{k}' has {len(ep[k])} rows but "
                        f"'{ep_name}/actions' has {t}; every key needs one row per step"
                    )
            term = ep["terminations"][()].astype(bool).reshape(-1)
            trunc = ep["truncations"][()].astype(bool).reshape(-1)
            if t and not (term[-1] or trunc[-1]):
                trunc = trunc.copy()
                trunc[-1] = True  # the recorded episode stops here: treat as a time-limit end
            cols["observations"].append(obs[:-1])
            cols["next_observations"].append(obs[1:])
            cols["actions"].append(act)
            cols["rewards"].append(ep["rewards"][()].reshape(-1))
            cols["terminals"].append(term)
            cols["timeouts"].append(trunc & ~term)
    arrays = {k: np.concatenate(v) for k, v in cols.items()}
    if maze is not None:
        from genpolicy.data.make.maze import relabel

        robot, size, ours = maze
        # rewards against the fixed evaluation goal (D4RL's files are labelled so); AntMaze
        # terminals mark the goal without ending the episode, as in D4RL's antmaze files
        arrays["rewards"] = relabel(
            arrays["next_observations"][:, :2].astype(np.float64), robot, size, "gymnasium"
        )
        ended = arrays["terminals"] | arrays["timeouts"]
        arrays["timeouts"] = ended
        arrays["terminals"] = (
            arrays["rewards"] > 0 if robot == "ant" else np.zeros_like(ended, dtype=bool)
        )
        meta = {**meta, "minari_env_id": env_id, "maze_rewards": "relabelled to the eval goal"}
        env_id = ours
    name = str(meta.get("dataset_id") or path.name)
    return RawData(
        arrays,
        src,
        name,
        env_id,
        {
            k: v
            for k, v in meta.items()
            if k not in ("env_spec", "observation_space", "action_space")
        },
    )


def _minari_maze(env_id: str | None) -> tuple[str, str, str] | None:
    if not env_id:
        return None
    from genpolicy.envs.mazes import MAZE_ENV_IDS, minari_env_id

    ours = minari_env_id(env_id)
    if ours is None:
        return None
    robot, size, _ = MAZE_ENV_IDS[ours]
    return robot, size, ours


def find_minari_id(dataset_id: str) -> Path | None:
    cand = minari_root() / dataset_id
    return cand if _minari_data_dir(cand) is not None else None


def download_minari(dataset_id: str) -> Path:
    """Fetch a Minari dataset with minari's own client (optional dependency)."""
    try:
        import minari
    except ModuleNotFoundError:
        raise GenpolicyError(
            f"Minari dataset {dataset_id!r} is not under {minari_root()}; download it with "
            "minari (`pip install -c constraints.txt 'genpolicy[minari]'`) or set "
            "MINARI_DATASETS_PATH"
        ) from None
    try:
        minari.download_dataset(dataset_id)
    except Exception as exc:  # network errors, unknown ids: minari raises many kinds
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise GenpolicyError(
            f"Minari dataset {dataset_id!r} is not under {minari_root()} and could not be "
            f"downloaded ({msg}); check the id and the network, or set MINARI_DATASETS_PATH"
        ) from None
    found = find_minari_id(dataset_id)
    if found is None:
        raise GenpolicyError(
            f"minari downloaded {dataset_id!r} but it is not under {minari_root()}; "
            "set MINARI_DATASETS_PATH to minari's dataset folder"
        )
    return found


# ---------------------------------------------------------------------- resolution
def suite_dirs() -> list[Path]:
    dirs = [Path(os.environ.get("GENPOLICY_DATASETS", Path.home() / ".genpolicy" / "datasets"))]
    dirs.append(Path("datasets"))
    return dirs


def read_raw(spec: str) -> RawData:
    """Read the dataset that ``spec`` names (a path or an id) into raw arrays."""
    path = Path(spec).expanduser()
    if path.exists():
        if path.is_dir():
            return read_minari(path)
        if path.suffix.lower() in HDF5_SUFFIXES:
            return read_d4rl_hdf5(path)
        if path.suffix.lower() == ".npz":
            return read_npz(path)
        raise GenpolicyError(
            f"{path}: unknown dataset format {path.suffix!r}; use .hdf5/.h5 (D4RL layout), "
            ".npz, or a Minari dataset folder"
        )
    if path.suffix.lower() in (*HDF5_SUFFIXES, ".npz") or spec.startswith((".", "/", "~")):
        raise GenpolicyError(f"{spec}: no such file; check the path")
    for d in suite_dirs():
        for suffix in HDF5_SUFFIXES:
            cand = d / f"{spec}{suffix}"
            if cand.is_file():
                raw = read_d4rl_hdf5(cand)
                raw.name = spec
                return raw
    if "/" in spec:
        found = find_minari_id(spec) or download_minari(spec)
        return read_minari(found)
    places = ", ".join(str(d) for d in suite_dirs())
    raise GenpolicyError(
        f"dataset {spec!r} not found: not a file, not <name>.hdf5 under {places} "
        "(set GENPOLICY_DATASETS), and not a Minari id (namespace/env/name-vN)"
    )


def auto_reward_convention(name: str, env_id: str | None) -> str:
    """antmaze (r - 1) for AntMaze, none for PointMaze / maze2d (sparse 0/1 rewards kept),
    locomotion otherwise."""
    text = f"{name} {env_id or ''}".lower()
    if "antmaze" in text:
        return "antmaze"
    from genpolicy.envs.mazes import maze_of

    if maze_of(name) is not None or (env_id and maze_of(env_id) is not None):
        return "none"
    return "locomotion"


def load_dataset(
    spec: str,
    *,
    device: str | torch.device = "cpu",
    reward_convention: str = "auto",
    normalize_obs: bool = True,
    env_check: bool = True,
    env_id: str | None = None,
) -> OfflineDataset:
    """Load, validate and convert the dataset that ``spec`` names.

    ``env_id`` overrides the environment recorded in (or guessed from the name of) the file;
    with ``env_check`` the observation size and action bounds are checked against it when
    Gymnasium knows it. ``reward_convention="auto"`` picks "antmaze" for antmaze datasets and
    "locomotion" otherwise.
    """
    from genpolicy.data.make.maze import apply_d4rl_conventions, maze_task
    from genpolicy.data.make.maze import max_episode_steps as maze_steps
    from genpolicy.envs.gym_envs import env_spaces, guess_env_id

    raw = read_raw(spec)
    env = env_id or raw.env_id or guess_env_id(raw.name)
    spaces = env_spaces(env) if env else None
    maze = maze_task(env, raw.name)
    if maze is not None and "minari_env_id" not in raw.metadata:  # D4RL antmaze / maze2d
        raw.arrays = apply_d4rl_conventions(raw.arrays, maze[0], maze[1], raw.source)
    max_steps = spaces.max_episode_steps if spaces else maze_steps(env, raw.name)
    conv = (
        auto_reward_convention(raw.name, env) if reward_convention == "auto" else reward_convention
    )
    ds = OfflineDataset.from_arrays(
        raw.arrays.get("observations"),  # type: ignore[arg-type]  # validated inside
        raw.arrays.get("actions"),  # type: ignore[arg-type]
        raw.arrays.get("rewards"),  # type: ignore[arg-type]
        raw.arrays.get("terminals"),  # type: ignore[arg-type]
        raw.arrays.get("timeouts"),
        raw.arrays.get("next_observations"),
        name=raw.name,
        env_id=env,
        reward_convention=conv,
        normalize_obs=normalize_obs,
        device=device,
        source=raw.source,
        max_episode_steps=max_steps,
        metadata=raw.metadata,
    )
    if env_check and spaces is not None and env is not None:
        validate_against_space(
            ds.observations.cpu().numpy(),
            ds.actions.cpu().numpy(),
            obs_dim=spaces.obs_dim,
            act_low=spaces.act_low,
            act_high=spaces.act_high,
            env_id=env,
            source=raw.source,
        )
    return ds
