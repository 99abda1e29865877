"""Helpers shared by several test modules (not collected: no test_ prefix)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]


def script(rel: str) -> ModuleType:
    """Import a script of the repository (e.g. ``benchmarks/act_speed.py``) as a module."""
    path = ROOT / rel
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = mod  # dataclasses and typing look their module up by name
    spec.loader.exec_module(mod)
    return mod


def assert_same(a: Any, b: Any, where: str = "") -> None:
    """Nested dicts/lists/tensors equal to the bit (tensors) or by == (everything else)."""
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def quiet_run(out_dir: Any, steps: int) -> dict[str, Any]:
    """Overrides for a short run: ``steps`` updates into ``out_dir``, no evaluation during
    training (4 episodes if one is asked for), no progress bar, no TensorBoard."""
    return {
        "train.steps": steps,
        "train.eval_every": 0,
        "train.eval_episodes": 4,
        "train.progress": False,
        "train.tensorboard": False,
        "train.out_dir": str(out_dir),
    }
