"""Checkpoints: state dicts + resolved config + library version + optimisers + RNG + step.

Saved with ``torch.save`` but containing only tensors and plain containers, so they load
with ``weights_only=True`` (no arbitrary pickles). Writes are atomic (temp file + rename).
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genpolicy.errors import GenpolicyError

FORMAT = "genpolicy-checkpoint-1"


def rng_state(batch_generator: torch.Generator | None = None) -> dict[str, Any]:
    """Every random state the training loop draws from."""
    np_state: Any = np.random.get_state()
    kind, keys, pos, has_gauss, gauss = np_state
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if batch_generator is not None:
        state["batch"] = batch_generator.get_state()
    return state


def set_rng_state(state: dict[str, Any], batch_generator: torch.Generator | None = None) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    random.setstate(_tuplify(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if batch_generator is not None and "batch" in state:
        batch_generator.set_state(state["batch"])


def _tuplify(x: Any) -> Any:
    return tuple(_tuplify(v) for v in x) if isinstance(x, (list, tuple)) else x


def save(path: str | Path, payload: dict[str, Any]) -> None:
    """Atomically write a checkpoint dict (adds the format tag and library version)."""
    from genpolicy import __version__

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format": FORMAT, "genpolicy_version": __version__, **payload}, tmp)
    os.replace(tmp, path)


def load(path: str | Path, device: str = "cpu") -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():  # a run directory
        path = path / "checkpoints" / "last.pt"
    if not path.is_file():
        raise GenpolicyError(f"no checkpoint at {path}; pass a .pt file or a run directory")
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
        raise GenpolicyError(f"{path}: not a readable genpolicy checkpoint ({exc})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise GenpolicyError(f"{path}: not a genpolicy checkpoint (format {FORMAT!r} expected)")
    return ckpt


def load_policy(path: str | Path, device: str = "cpu") -> tuple[Any, Any, dict[str, Any]]:
    """(algorithm ready to ``act``, its RunConfig, the checkpoint dict) from a checkpoint."""
    from genpolicy.algos import build_algorithm
    from genpolicy.config import RunConfig

    ckpt = load(path, device)
    cfg = RunConfig.from_dict(ckpt["config"])
    dims = ckpt["dims"]
    algo = build_algorithm(
        cfg.algo, cfg.model, cfg.critic, int(dims["obs"]), int(dims["act"]), device
    )
    algo.load_training_state(ckpt["algo"])
    algo.eval()
    return algo, cfg, ckpt
