"""``make_dataset``: roll out a behaviour policy and write a D4RL-layout file (and optionally a
Minari folder); ``dataset_summary``: the statistics that ``genpolicy dataset info`` prints."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import numpy as np

from genpolicy.data.dataset import OfflineDataset, episode_ends_of, episode_returns_of
from genpolicy.data.make.agents import load_algorithm
from genpolicy.data.make.rollout import collect
from genpolicy.data.writers import check_output, write_d4rl, write_minari
from genpolicy.errors import GenpolicyError


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def make_dataset(
    env_id: str,
    policy: str,
    size: int,
    out: str | Path,
    *,
    seed: int = 0,
    deterministic: bool = False,
    action_noise: float = 0.0,
    minari_out: str | Path | None = None,
    minari_id: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    extra_metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Roll ``policy`` out in ``env_id`` for ``size`` transitions; returns the metadata
    written (with the wall time of the rollout)."""
    from genpolicy import __version__
    from genpolicy.envs.gym_envs import env_spaces

    if size <= 0:
        raise GenpolicyError(f"--size must be positive, got {size}")
    if not action_noise >= 0:
        raise GenpolicyError(f"--action-noise must be >= 0, got {action_noise}")
    out = Path(out)
    if out.exists() and not overwrite:
        raise GenpolicyError(f"{out}: already exists; pass --overwrite to replace it")
    if minari_out is not None:
        mid = minari_id or f"genpolicy/{out.stem}"
        if (Path(minari_out) / mid).exists() and not overwrite:
            raise GenpolicyError(
                f"{Path(minari_out) / mid}: already exists; pass --overwrite to replace it"
            )
    spaces = env_spaces(env_id)
    if spaces is None:
        raise GenpolicyError(
            f"environment {env_id!r} is not registered in Gymnasium; use e.g. Hopper-v5"
        )
    pol = load_algorithm(
        policy, obs_dim=spaces.obs_dim, act_low=spaces.act_low, act_high=spaces.act_high, seed=seed
    )
    check_output(out, overwrite)  # the folders now, before the rollout
    if minari_out is not None:
        check_output(Path(minari_out) / (minari_id or f"genpolicy/{out.stem}"), overwrite)
    start = time.time()
    arrays = collect(
        env_id,
        pol,
        size,
        seed=seed,
        deterministic=deterministic,
        action_noise=action_noise,
        progress=progress,
        desc=out.name,
    )
    wall = time.time() - start
    meta: dict[str, Any] = {
        "env_id": env_id,
        "policy": pol.description,
        "policy_sha256": file_sha256(policy) if Path(policy).is_file() else "",
        "seed": seed,
        "deterministic": deterministic,
        "action_noise": action_noise,
        "size": size,
        "genpolicy_version": __version__,
        "rollout_wall_s": round(wall, 2),
    }
    meta.update(extra_metadata or {})
    write_d4rl(out, arrays, meta, overwrite=overwrite)
    if minari_out is not None:
        write_minari(
            minari_out,
            minari_id or f"genpolicy/{out.stem}",
            arrays,
            env_id=env_id,
            metadata=meta,
            overwrite=overwrite,
        )
    return meta


def dataset_summary(ds: OfflineDataset) -> dict[str, Any]:
    """Size, episodes, return statistics and (for D4RL tasks) normalised scores."""
    from genpolicy.envs.registry import normalized_score, task_for

    rets = ds.episode_returns()
    info: dict[str, Any] = {
        "name": ds.name,
        "env_id": ds.env_id,
        "transitions": len(ds),
        "episodes": ds.num_episodes,
        "obs_dim": ds.obs_dim,
        "act_dim": ds.act_dim,
        "terminals": int(ds.terminals.sum().item()),
        "timeouts": int(ds.timeouts.sum().item()),
        "return_mean": float(rets.mean()),
        "return_std": float(rets.std()),
        "return_min": float(rets.min()),
        "return_max": float(rets.max()),
        "fingerprint": ds.fingerprint(),
    }
    task = task_for(ds.env_id, ds.name)  # the environment's task first, then the name's
    if task is not None:
        scores = np.asarray(normalized_score(task, rets))
        info.update(
            task=task,
            score_mean=float(scores.mean()),
            score_std=float(scores.std()),
            score_min=float(scores.min()),
            score_max=float(scores.max()),
        )
    return info


def raw_returns(arrays: dict[str, np.ndarray]) -> np.ndarray:
    ends = episode_ends_of(arrays["terminals"], arrays["timeouts"])
    return episode_returns_of(arrays["rewards"], ends)
