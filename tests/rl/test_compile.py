"""Compiled updates (``train.compile``): every algorithm's ``step`` compiles with
``fullgraph=True`` (no graph break, no host synchronisation) and N compiled updates match N
eager ones from the same seed; steady state never recompiles.

The per-algorithm checks use the ``aot_eager`` backend, which traces exactly what inductor
would compile (the graph, the backward, the optimiser steps) and runs it with eager
kernels, so it costs seconds and matches eager numerics to float rounding; one slow test
runs inductor itself.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from torch._dynamo.utils import counters

from genpolicy.envs import toy_bandit as tb
from genpolicy.errors import GenpolicyError
from genpolicy.rl.algos import Algorithm, build_algorithm
from genpolicy.training.config import create

SMALL = {
    "model.hidden": 32,
    "model.depth": 1,
    "model.time_dim": 8,
    "critic.hidden": 32,
    "algo.batch_size": 64,
}
# each algorithm crosses its phase change within the updates below (critic warm-up,
# pretraining, DQL's EMA copy -> average), with the schedules and levers that touch a step
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "bc": ("toy-bc", {"algo.ema": 0.9, "algo.lr_schedule": "cosine"}),
    "bc-gaussian": ("toy-bc", {"algo.policy": "gaussian"}),
    "iql": ("toy-iql", {"algo.critic_warmup": 2, "algo.lr_schedule": "cosine"}),
    "gmpo": (
        "toy-gmpo",
        {"algo.critic_warmup": 2, "algo.clone_warmup": 2, "algo.min_ess": 0.5, "algo.ema": 0.9},
    ),
    "gmpg": ("toy-gmpg", {"algo.pretrain_steps": 3, "algo.policy_batch": 16, "algo.grad_steps": 2}),
    "gtp": ("gtp/toy-bandit", {"algo.critic": "td", "algo.min_ess": 0.5}),
    "gtp-iql": ("gtp/toy-bandit", {"algo.critic": "iql", "algo.critic_warmup": 2}),
    "qgpo": ("toy-qgpo", {"algo.pretrain_steps": 3, "algo.critic_batch": 16, "algo.support": 4}),
    "idql": ("toy-idql", {"algo.lr_schedule": "linear", "algo.lr_warmup": 2}),
    "srpo": (
        "toy-srpo",
        {"algo.pretrain_steps": 3, "algo.critic_batch": 16, "algo.policy_batch": 16},
    ),
    "dql": ("toy-dql", {"algo.ema_every": 2, "algo.ema_start": 3, "algo.grad_steps": 3}),
    "fql": ("toy-fql", {"algo.flow_steps": 3, "algo.normalize_q": True}),
}
N = 8  # updates compared
TOL = 1e-3  # max |compiled - eager| / (1 + |eager|) over parameters and metrics


@pytest.fixture(scope="module")
def data() -> Any:
    return tb.make_dataset(2000)


def pair(name: str, data: Any = None, **extra: Any) -> tuple[Algorithm, Algorithm]:
    config, over = CASES[name]
    over = {**SMALL, **over, "train.steps": N, **extra}
    if name not in ("iql", "bc-gaussian", "srpo"):
        over.setdefault("algo.act.steps", 3)
    cfg = create(config, over)
    torch.manual_seed(0)
    eager = build_algorithm(cfg.algo, cfg.model, cfg.critic, 2, 2, "cpu")
    eager.set_horizon(N)
    if data is not None:
        eager.attach_dataset(data)  # QGPO keeps the rows it draws support actions for
    return eager, copy.deepcopy(eager)


def run_both(eager: Algorithm, compiled: Algorithm, data: Any, n: int = N) -> float:
    gen = torch.Generator().manual_seed(1)
    batches = [data.sample(64, gen) for _ in range(n)]
    torch.manual_seed(5)
    out_e = [eager.update(b) for b in batches]
    torch.manual_seed(5)
    out_c = [compiled.update(b) for b in batches]
    pairs: list[tuple[torch.Tensor, torch.Tensor]]
    pairs = list(zip(eager.parameters(), compiled.parameters(), strict=True))
    for e, c in zip(out_e, out_c, strict=True):
        assert e.keys() == c.keys()
        pairs += [(e[k], c[k]) for k in e]
    return max(((x - y).abs() / (1 + x.abs())).max().item() for x, y in pairs)


@pytest.mark.parametrize("name", list(CASES))
def test_compiled_updates_match_eager(name: str, data: Any) -> None:
    torch._dynamo.reset()
    counters.clear()
    eager, compiled = pair(name, data)
    compiled.compile_update(backend="aot_eager")  # fullgraph=True: a graph break raises
    assert run_both(eager, compiled, data) < TOL
    assert eager.num_updates == compiled.num_updates == N
    # one graph per phase met (GMPG's policy gradient stays eager), nothing else: the
    # phases' functions share one code object, so each new phase is a "recompile" of it
    assert counters["stats"]["unique_graphs"] == len(compiled._compiled)


def test_steady_state_never_recompiles(data: Any) -> None:
    """A cosine schedule changes the learning rate every update: it is a tensor filled in
    place, so after the warm-up phase's and the full update's first calls nothing compiles."""
    torch._dynamo.reset()
    counters.clear()
    eager, compiled = pair("iql", **{"train.steps": 12})
    compiled.set_horizon(12)
    compiled.compile_update(backend="aot_eager")
    gen = torch.Generator().manual_seed(1)
    for _ in range(4):  # the warm-up phase, then the first full updates
        compiled.update(data.sample(64, gen))
    frames = counters["stats"]["unique_graphs"]
    for _ in range(8):
        compiled.update(data.sample(64, gen))
    assert counters["stats"]["unique_graphs"] == frames == 2
    assert not counters["recompiles"]


def test_compile_rejects_unknown_mode() -> None:
    eager, _ = pair("bc")
    with pytest.raises(GenpolicyError, match="train.compile 'fast'; choose one of: default"):
        eager.compile_update("fast")
    with pytest.raises(GenpolicyError, match="unknown train.compile"):
        create("toy-bc", {"train.compile": "fast"})
    assert create("toy-bc", {"train.compile": False}).train.compile == "off"  # YAML's `off`


def test_acting_compiles_once_for_evaluation_batches(data: Any) -> None:
    """The sampler compiled at the evaluation batch: repeated evaluations reuse it."""
    torch._dynamo.reset()
    counters.clear()
    eager, compiled = pair("gmpo")
    compiled.compile_acting("default", backend="aot_eager")
    obs = data.observations[:16].numpy()
    for algo in (eager, compiled):
        algo.seed_acting(3)
    a, b = eager.act(obs), compiled.act(obs)
    assert abs(a - b).max() < TOL
    frames = counters["stats"]["unique_graphs"]
    for _ in range(3):
        compiled.seed_acting(3)
        compiled.act(obs)
    assert counters["stats"]["unique_graphs"] == frames
    assert not counters["recompiles"]


@pytest.mark.slow
def test_inductor_compiled_updates_match_eager(data: Any) -> None:
    """The real compiler (inductor, C++ kernels on the CPU) on GMPO's whole update; its
    random numbers fall back to eager's so both draw the same noise."""
    torch._dynamo.reset()
    eager, compiled = pair("gmpo")
    compiled.compile_update("default")
    with torch._inductor.config.patch(fallback_random=True):
        assert run_both(eager, compiled, data) < 1e-3
