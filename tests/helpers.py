"""Helpers shared by several test modules (not collected: no test_ prefix)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from genpolicy.envs import toy_bandit as tb
from genpolicy.rl.algos import build_algorithm
from genpolicy.training.config import RunConfig, create

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


# -- tiny runs shared by the trainer and algorithm tests -----------------------------------
# a toy sweep trial's training: 300 updates, evaluated and checkpointed every 100
TINY_SWEEP = {
    "train.steps": 300,
    "train.eval_every": 100,
    "train.checkpoint_every": 100,
    "train.log_every": 50,
    "train.eval_episodes": 200,
    "train.tensorboard": False,
}
TINY_MODEL = {"model.hidden": 32, "model.depth": 1, "model.time_dim": 8, "critic.hidden": 32}


def tiny(algo: str, out: Path, **extra: Any) -> RunConfig:
    over: dict[str, Any] = {
        **TINY_MODEL,
        "algo.batch_size": 64,
        "train.steps": 12,
        "train.log_every": 2,
        "train.eval_every": 4,
        "train.eval_episodes": 20,
        "train.checkpoint_every": 3,
        "train.progress": False,
        "train.tensorboard": False,
        "train.out_dir": str(out),
        **extra,
    }
    if algo != "iql":
        over["algo.act.steps"] = 4
    if algo == "gmpg":  # cross the pretraining -> policy-gradient boundary mid-run
        over.update({"algo.pretrain_steps": 6, "algo.policy_batch": 16, "algo.grad_steps": 2})
    if algo == "qgpo":  # the same, drawing the support actions of every dataset row there
        over.update({"algo.pretrain_steps": 3, "algo.critic_batch": 8, "algo.support": 4})
    return create(f"toy-{algo}", over)


# -- the toy bandit's learning tests ------------------------------------------------------------
OBS = torch.rand(2000, 2, generator=torch.Generator().manual_seed(123)) * 2 - 1


def train(name: str, dataset: Any, steps: int | None = None, seed: int = 0, **over: Any) -> Any:
    """``name`` trained on ``dataset`` (torch seed ``seed``, batches from seed + 1, as
    ``benchmarks/parity/toy_best_mode.py``)."""
    cfg = create(name, over)
    torch.manual_seed(seed)
    algo = build_algorithm(cfg.algo, cfg.model, cfg.critic, 2, 2, "cpu")
    algo.attach_dataset(dataset)
    gen = torch.Generator().manual_seed(seed + 1)
    for _ in range(steps or cfg.train.steps):
        algo.update(dataset.sample(algo.batch_size, gen))
    return algo


def fractions(algo: Any) -> dict[str, float]:
    algo.seed_acting(0)
    return tb.mode_fractions(OBS, torch.as_tensor(algo.act(OBS.numpy())))
