"""Training throughput (``genpolicy bench train``): updates per second of each algorithm,
eager and compiled (``train.compile``), at several batch sizes, on this machine.

Each algorithm trains with a shipped config's networks (``cpu/hopper-medium-replay-<algo>``;
``gmpo-published``: ``published/gmpo/vp/hopper-medium-replay``, the published 512 x 4 policy of
1.63M parameters) on random transitions of Hopper's shape (11-D states, 3-D actions),
drawn on the device; the batch size is the benchmark's, not the config's. Each timing
starts at the algorithm's steady-state phase (after any critic warm-up or pretraining),
runs ``warmup`` untimed updates (where compiling happens; their seconds are reported as
``compile_s``) and then times updates for at least ``min_seconds``.

``populations`` (e.g. 1, 8, 32): P members of the algorithm trained as one batched update
(``genpolicy.training.population``; BC, IQL, GMPO, GTP), eager or compiled like a lone run;
a row reports updates/s of the whole population and ``member_updates_per_s`` = P x that.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from genpolicy.errors import GenpolicyError
from genpolicy.rl.algos import build_algorithm
from genpolicy.training.config import create
from genpolicy.training.population import SUPPORTED, population_of, stack_batches

OBS_DIM, ACT_DIM = 11, 3  # Hopper
ALGOS = ("bc", "iql", "gmpo", "gmpg", "gtp", "qgpo", "idql", "srpo", "dql", "fql")
MODES = ("eager", "default", "reduce-overhead")  # reduce-overhead: CUDA graphs, CUDA only


def bench_config_name(algo: str) -> str:
    if algo == "gmpo-published":
        return "published/gmpo/vp/hopper-medium-replay"
    return f"cpu/hopper-medium-replay-{algo}"


@dataclass
class TrainBenchConfig:
    algos: tuple[str, ...] = (*ALGOS, "gmpo-published")
    batches: tuple[int, ...] = (256, 512, 4096)
    modes: tuple[str, ...] = ("eager", "default")
    device: str = "cpu"
    threads: int = 1
    warmup: int = 3
    min_seconds: float = 2.0
    max_updates: int = 200
    populations: tuple[int, ...] = (1,)  # members trained per update (population sizes)
    overrides: dict[str, Any] = field(default_factory=dict)  # extra config overrides


@dataclass
class RandomBatch:
    observations: Tensor
    actions: Tensor
    rewards: Tensor
    next_observations: Tensor
    terminals: Tensor


class RandomData:
    """Random transitions held on the device; ``sample`` draws indices there too."""

    def __init__(self, n: int, device: str) -> None:
        g = torch.Generator(device="cpu").manual_seed(0)
        self.obs = torch.randn(n, OBS_DIM, generator=g).to(device)
        self.act = (torch.rand(n, ACT_DIM, generator=g) * 2 - 1).to(device)
        self.rew = torch.randn(n, generator=g).to(device)
        self.nxt = torch.randn(n, OBS_DIM, generator=g).to(device)
        self.done = torch.zeros(n, device=device)
        self.n = n

    def sample(self, batch: int) -> RandomBatch:
        i = torch.randint(self.n, (batch,), device=self.obs.device)
        return RandomBatch(self.obs[i], self.act[i], self.rew[i], self.nxt[i], self.done[i])


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return cpu


def machine(cfg: TrainBenchConfig) -> dict[str, Any]:
    return {
        "device": cfg.device,
        "device_name": device_name(cfg.device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],  # other work on the machine
        "python": platform.python_version(),
    }


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def bench_one(
    algo: str, batch: int, mode: str, cfg: TrainBenchConfig, population: int = 1
) -> dict[str, Any]:
    """One row: updates/s of ``algo`` at ``batch`` in ``mode`` (eager or a compile mode),
    ``population`` members at once."""
    over: dict[str, Any] = {"train.device": cfg.device, **cfg.overrides}
    shipped = create(bench_config_name(algo), over).algo
    over["algo.batch_size"] = batch
    for key in ("policy_batch", "critic_batch"):  # sub-batches may not exceed the batch
        if hasattr(shipped, key):
            over[f"algo.{key}"] = min(getattr(shipped, key), batch)
    run_cfg = create(bench_config_name(algo), over)
    members = []
    for seed in range(population):
        torch.manual_seed(seed)
        members.append(
            build_algorithm(
                run_cfg.algo, run_cfg.model, run_cfg.critic, OBS_DIM, ACT_DIM, cfg.device
            )
        )
    algo_obj = members[0]
    if population > 1:
        gens = [torch.Generator(device=cfg.device).manual_seed(s) for s in range(population)]
        algo_obj = population_of(run_cfg, members, gens)
    algo_obj.set_horizon(max(run_cfg.train.steps, 1))
    phase = algo_obj.speed_phases()[-1]
    algo_obj.start_phase(phase)
    if mode != "eager":
        algo_obj.compile_update(mode)
    data = RandomData(max(4 * batch, 8192), cfg.device)
    policy = getattr(members[0], "policy", None) or members[0].behaviour  # QGPO: mu (+ energy)
    n_params = sum(p.numel() for p in policy.parameters())

    def draw() -> Any:
        if population == 1:
            return data.sample(batch)
        return stack_batches([data.sample(batch) for _ in range(population)])

    def update() -> dict[str, Tensor]:
        return algo_obj.update(draw())

    t0 = time.perf_counter()
    for _ in range(cfg.warmup):
        update()
    _sync(cfg.device)
    compile_s = time.perf_counter() - t0
    done, t0 = 0, time.perf_counter()
    while True:
        info = update()
        done += 1
        if done >= cfg.max_updates or time.perf_counter() - t0 >= cfg.min_seconds:
            break
    torch.stack([v.float().sum() for v in info.values()]).sum().item()  # wait for the device
    seconds = time.perf_counter() - t0
    return {
        "algo": algo,
        "config": bench_config_name(algo),
        "phase": phase,
        "batch": batch,
        "mode": mode,
        "population": population,
        "member_updates_per_s": population * done / seconds,
        "policy_params": n_params,
        "updates": done,
        "seconds": seconds,
        "updates_per_s": done / seconds,
        "compile_s": compile_s,
        "eager_phase": phase in algo_obj.eager_phases and mode != "eager",
    }


def run_train_bench(
    cfg: TrainBenchConfig,
    say: Callable[[str], None] | None = None,
    save: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Every (algo, batch, mode) of ``cfg``; rows plus the machine they ran on.

    ``save(result)`` is called after every row with the rows so far, so a run stopped by
    a time limit keeps what it measured."""
    if min(cfg.populations) < 1:
        raise GenpolicyError(f"population sizes must be >= 1, got {list(cfg.populations)}")
    unknown = [m for m in cfg.modes if m not in MODES]
    if unknown:
        raise GenpolicyError(f"unknown bench mode {unknown[0]!r}; choose from {', '.join(MODES)}")
    if "reduce-overhead" in cfg.modes and not cfg.device.startswith("cuda"):
        raise GenpolicyError("mode reduce-overhead (CUDA graphs) needs --device cuda")
    torch.set_num_threads(cfg.threads)
    rows: list[dict[str, Any]] = []
    res = {"machine": machine(cfg), "rows": rows}
    for algo in cfg.algos:
        for batch in cfg.batches:
            for pop in cfg.populations:
                if pop > 1 and algo.split("-")[0] not in SUPPORTED:
                    continue  # populations train BC, IQL, GMPO and GTP only
                for mode in cfg.modes:
                    if say is not None:
                        say(f"{algo} batch {batch} population {pop} {mode}")
                    torch._dynamo.reset()
                    rows.append(bench_one(algo, batch, mode, cfg, pop))
                    if save is not None:
                        save(res)
    return res


def format_train_report(res: dict[str, Any]) -> str:
    m = res["machine"]
    head = f"{m['device_name']} ({m['device']}), torch {m['torch']}, {m['threads']} thread(s)"
    lines = [
        head,
        f"{'algo':16} {'batch':>6} {'P':>4} {'mode':>16} {'member-updates/s':>17} {'vs eager':>9}",
    ]
    eager = {
        (r["algo"], r["batch"]): r["updates_per_s"]
        for r in res["rows"]
        if r["mode"] == "eager" and r.get("population", 1) == 1
    }
    for r in res["rows"]:
        base = eager.get((r["algo"], r["batch"]))
        rate = r.get("member_updates_per_s", r["updates_per_s"])
        ratio = f"{rate / base:.2f}x" if base else ""
        pop = r.get("population", 1)
        lines.append(
            f"{r['algo']:16} {r['batch']:>6} {pop:>4} {r['mode']:>16} {rate:>17.1f} {ratio:>9}"
        )
    return "\n".join(lines)
