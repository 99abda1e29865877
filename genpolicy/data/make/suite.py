"""The D4RL-style benchmark suite on Gymnasium MuJoCo (HalfCheetah-v5, Hopper-v5, Walker2d-v5).

For each task:

- ``<task>-expert-v5``: the RL Zoo TQC agent (``tqc_<Env>-v3.zip`` in ``--agents``), stochastic;
- ``<task>-medium-v5``: genpolicy's own early-stopped SAC actor (``genpolicy/data/make/assets``),
  stochastic;
- ``<task>-medium-replay-v5``: that SAC run's replay buffer up to the stopping point (the
  ``.npz`` written by ``scripts/train_medium_sac.py``, looked up in ``--buffers``);
- ``<task>-medium-expert-v5``: medium followed by expert.

Every rollout has a fixed seed from ``RECIPE``, so the suite is regenerated exactly from the
same weights and agents.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genpolicy.data.make.agents import ASSETS
from genpolicy.data.make.dataset import file_sha256, make_dataset
from genpolicy.data.readers import read_d4rl_hdf5, read_npz
from genpolicy.data.writers import writable_folder, write_d4rl
from genpolicy.errors import GenpolicyError, unknown_name

SUITE_VERSION = "v5"
KINDS = ("medium", "expert", "medium-replay", "medium-expert")


@dataclass(frozen=True)
class TaskRecipe:
    env_id: str
    expert_zip: str  # file name inside --agents
    medium_weights: str  # file name inside genpolicy/data/make/assets
    buffer: str  # file name inside --buffers
    seed: int  # base seed; medium uses seed, expert seed + 1


RECIPE: dict[str, TaskRecipe] = {
    "hopper": TaskRecipe(
        "Hopper-v5", "tqc_Hopper-v3.zip", "sac_medium_hopper-v5.pt", "sac_buffer_hopper-v5.npz", 100
    ),
    "walker2d": TaskRecipe(
        "Walker2d-v5",
        "tqc_Walker2d-v3.zip",
        "sac_medium_walker2d-v5.pt",
        "sac_buffer_walker2d-v5.npz",
        200,
    ),
    "halfcheetah": TaskRecipe(
        "HalfCheetah-v5",
        "tqc_HalfCheetah-v3.zip",
        "sac_medium_halfcheetah-v5.pt",
        "sac_buffer_halfcheetah-v5.npz",
        300,
    ),
}


def dataset_name(task: str, kind: str) -> str:
    return f"{task}-{kind}-{SUITE_VERSION}"


def _medium_replay(
    recipe: TaskRecipe, buffers: Path, out: Path, name: str, overwrite: bool
) -> dict[str, Any]:
    from genpolicy import __version__

    src = buffers / recipe.buffer
    if not src.is_file():
        raise GenpolicyError(
            f"{src}: no SAC replay buffer; make it with scripts/train_medium_sac.py "
            "(see docs/data/datasets.md) or pass --buffers DIR"
        )
    raw = read_npz(src)
    arrays = raw.arrays
    meta = {
        "env_id": recipe.env_id,
        "policy": "SAC replay buffer up to the early stop (scripts/train_medium_sac.py)",
        "source": src.name,
        "source_sha256": file_sha256(src),
        "size": int(len(arrays["observations"])),
        "genpolicy_version": __version__,
    }
    # the buffer ends mid-episode: that transition is cut by the stop, i.e. a timeout
    arrays["timeouts"] = arrays["timeouts"].copy()
    if not arrays["terminals"][-1]:
        arrays["timeouts"][-1] = True
    write_d4rl(out, arrays, meta, overwrite=overwrite)
    return meta


def _concat(parts: Sequence[Path], out: Path, env_id: str, overwrite: bool) -> dict[str, Any]:
    from genpolicy import __version__

    raws = [read_d4rl_hdf5(p) for p in parts]
    keys = ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts")
    arrays = {k: np.concatenate([r.arrays[k] for r in raws]) for k in keys}
    meta = {
        "env_id": env_id,
        "policy": " + ".join(
            f"{p.name} ({r.metadata.get('policy', '?')})" for p, r in zip(parts, raws, strict=True)
        ),
        "size": int(len(arrays["observations"])),
        "genpolicy_version": __version__,
    }
    write_d4rl(out, arrays, meta, overwrite=overwrite)
    return meta


def make_suite(
    agents: str | Path | None,
    out_dir: str | Path,
    size: int,
    *,
    tasks: Sequence[str] = tuple(RECIPE),
    kinds: Sequence[str] = KINDS,
    buffers: str | Path = "datasets/sac",
    overwrite: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Make the suite's datasets in ``out_dir`` (existing files are kept unless
    ``overwrite``); returns one record per dataset with its generation wall time."""
    out_dir, buffers = Path(out_dir), Path(buffers)
    for task in tasks:
        if task not in RECIPE:
            raise unknown_name("suite task", task, RECIPE)
    for kind in kinds:
        if kind not in KINDS:
            raise unknown_name("suite dataset kind", kind, KINDS)
    writable_folder(out_dir)
    records: list[dict[str, Any]] = []
    order = [k for k in KINDS if k in kinds]
    for task in tasks:
        r = RECIPE[task]
        for kind in order:
            name = dataset_name(task, kind)
            out = out_dir / f"{name}.hdf5"
            if out.exists() and not overwrite:
                log(f"{out}: exists, kept (pass --overwrite to remake it)")
                continue
            start = time.time()
            if kind in ("medium", "expert"):
                if kind == "expert" and agents is None:
                    raise GenpolicyError(f"{name} needs the expert agents folder (--agents)")
                policy = (
                    ASSETS / r.medium_weights
                    if kind == "medium"
                    else Path(agents or ".") / r.expert_zip
                )
                if not policy.is_file():
                    where = "genpolicy/data/make/assets" if kind == "medium" else "--agents"
                    raise GenpolicyError(f"{policy}: missing {kind} policy (looked in {where})")
                meta = make_dataset(
                    r.env_id,
                    str(policy),
                    size,
                    out,
                    seed=r.seed + (0 if kind == "medium" else 1),
                    overwrite=overwrite,
                    progress=progress,
                    extra_metadata={"suite": name},
                )
            elif kind == "medium-replay":
                meta = _medium_replay(r, buffers, out, name, overwrite)
            else:
                parts = [out_dir / f"{dataset_name(task, k)}.hdf5" for k in ("medium", "expert")]
                missing = [p for p in parts if not p.is_file()]
                if missing:
                    raise GenpolicyError(f"{missing[0]}: needed for {name}; make it first")
                meta = _concat(parts, out, r.env_id, overwrite)
            wall = time.time() - start
            rec = {"dataset": name, "file": str(out), "wall_s": round(wall, 1), **meta}
            records.append(rec)
            log(json.dumps({"dataset": name, "wall_s": rec["wall_s"], "size": meta["size"]}))
    return records


# ---------------------------------------------------------------------- PointMaze (maze2d)
@dataclass(frozen=True)
class MazeRecipe:
    transitions: int  # D4RL's maze2d: 1M / 2M / 4M; here a quarter
    seed: int


MAZE_RECIPE: dict[str, MazeRecipe] = {
    "umaze": MazeRecipe(250_000, 400),
    "medium": MazeRecipe(500_000, 401),
    "large": MazeRecipe(1_000_000, 402),
}


def maze_dataset_name(size: str) -> str:
    """genpolicy's PointMaze datasets: D4RL maze2d-<size>-v1's recipe and frame."""
    return f"pointmaze-{size}-v1"


def make_maze_suite(
    out_dir: str | Path,
    *,
    sizes: Sequence[str] = tuple(MAZE_RECIPE),
    scale: float = 1.0,
    overwrite: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Make ``pointmaze-<size>-v1`` for each size in ``out_dir`` (``MAZE_RECIPE`` transitions
    times ``scale``, fixed seeds; existing files are kept unless ``overwrite``)."""
    from genpolicy.data.make.maze import make_maze_dataset

    out_dir = Path(out_dir)
    for size in sizes:
        if size not in MAZE_RECIPE:
            raise unknown_name("maze size", size, MAZE_RECIPE)
    if not scale > 0:
        raise GenpolicyError(f"--scale must be positive, got {scale}")
    writable_folder(out_dir)
    records: list[dict[str, Any]] = []
    for size in sizes:
        r = MAZE_RECIPE[size]
        name = maze_dataset_name(size)
        out = out_dir / f"{name}.hdf5"
        if out.exists() and not overwrite:
            log(f"{out}: exists, kept (pass --overwrite to remake it)")
            continue
        start = time.time()
        meta = make_maze_dataset(
            size,
            max(1, int(round(r.transitions * scale))),
            out,
            seed=r.seed,
            overwrite=overwrite,
            progress=progress,
            extra_metadata={"suite": name},
        )
        rec = {"dataset": name, "file": str(out), "wall_s": round(time.time() - start, 1), **meta}
        records.append(rec)
        log(json.dumps({"dataset": name, "wall_s": rec["wall_s"], "size": meta["size"]}))
    return records
