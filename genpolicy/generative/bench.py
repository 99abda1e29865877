"""Speed benchmarks of the generative core on this machine (not tests: numbers only).

Measures, for a policy-sized network (default 3 x 256, 6-D actions, 17-D states):
training steps/s (loss + backward + Adam) per model kind, actions/s when sampling at
batch 1 and a large batch for several step counts, and the cost of one log_prob with the
exact and the Hutchinson divergence. Run with one thread unless told otherwise, since
that is what an evaluation worker or a small robot computer gets.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from genpolicy.generative.models import (
    GenerativeModel,
    ModelConfig,
    build_model,
    require_capabilities,
)


@dataclass
class BenchConfig:
    action_dim: int = 6
    state_dim: int = 17
    hidden: int = 256
    depth: int = 3
    train_batch: int = 256
    big_batch: int = 1024
    steps: tuple[int, ...] = (1, 2, 5, 10, 32)
    logp_batch: int = 256
    logp_steps: int = 16
    min_seconds: float = 0.5
    threads: int = 1


def timeit(fn: Callable[[], object], min_seconds: float) -> float:
    """Seconds per call: warm up, then repeat for at least ``min_seconds``."""
    for _ in range(3):
        fn()
    n, start = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds and n >= 3:
            return elapsed / n


def policy_model(kind: str, path: str, cfg: BenchConfig) -> GenerativeModel:
    mcfg = ModelConfig(kind=kind, path=path, hidden=cfg.hidden, depth=cfg.depth)
    return build_model(mcfg, cfg.action_dim, cfg.state_dim)


def train_step(
    model: GenerativeModel, opt: torch.optim.Optimizer, a: torch.Tensor, s: torch.Tensor
) -> Callable[[], None]:
    def step() -> None:
        loss = model.loss(a, s).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        model.update_target()

    return step


def sampler(
    model: GenerativeModel, s: torch.Tensor, k: int, solver: str | None
) -> Callable[[], torch.Tensor]:
    return lambda: model.sample(s, steps=k, solver=solver)


def naive_euler(model: GenerativeModel, s: torch.Tensor, k: int) -> Callable[[], torch.Tensor]:
    """Euler through the full network call at every step (no cached conditioning)."""
    net = model.net

    def run_naive() -> torch.Tensor:
        x = torch.randn(s.shape[0], model.action_dim)
        ts = torch.linspace(1.0, 0.0, k + 1)
        for i in range(k):
            x = x + (ts[i + 1] - ts[i]) * net(x, ts[i].expand(s.shape[0]), s)
        return x

    return run_naive


def log_prob_call(
    model: GenerativeModel, a: torch.Tensor, s: torch.Tensor, steps: int, div: str, grad: bool
) -> Callable[[], None]:
    require_capabilities(model, ["log_prob"], algo="bench log_prob")
    lp: Any = model  # a likelihood model: log_prob and sample_with_log_prob

    def call() -> None:
        if grad:
            model.zero_grad(set_to_none=True)
            lp.log_prob(a, s, steps=steps, solver="rk4", divergence=div).mean().backward()
        else:
            with torch.no_grad():
                lp.log_prob(a, s, steps=steps, solver="rk4", divergence=div)

    return call


def bench_training(cfg: BenchConfig) -> dict[str, float]:
    out = {}
    a = torch.randn(cfg.train_batch, cfg.action_dim).clamp(-1, 1)
    s = torch.randn(cfg.train_batch, cfg.state_dim)
    for kind, path in (("diffusion", "vp"), ("flow", "linear"), ("flowmap", "ve")):
        model = policy_model(kind, path, cfg)
        opt = torch.optim.Adam(model.parameters(), lr=1e-4, foreach=True)
        out[f"{kind}/{path}"] = 1.0 / timeit(train_step(model, opt, a, s), cfg.min_seconds)
    return out


def bench_sampling(cfg: BenchConfig) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    flow, fmap = policy_model("flow", "linear", cfg), policy_model("flowmap", "ve", cfg)
    for batch in (1, cfg.big_batch):
        s = torch.randn(batch, cfg.state_dim)
        for label in ("flow euler", "flowmap jumps", "flow euler, uncached net call"):
            row = {}
            for k in cfg.steps:
                if label == "flow euler":
                    call = sampler(flow, s, k, "euler")
                elif label == "flowmap jumps":
                    call = sampler(fmap, s, k, None)
                else:
                    call = naive_euler(flow, s, k)
                with torch.inference_mode():
                    row[str(k)] = batch / timeit(call, cfg.min_seconds)
            out[f"{label} @ batch {batch}"] = row
    return out


def bench_log_prob(cfg: BenchConfig) -> dict[str, float]:
    model = policy_model("flow", "linear", cfg)
    a = torch.randn(cfg.logp_batch, cfg.action_dim).clamp(-1, 1)
    s = torch.randn(cfg.logp_batch, cfg.state_dim)
    out = {}
    for div in ("exact", "hutchinson"):
        for grad, label in ((False, "no grad"), (True, "forward + backward")):
            call = log_prob_call(model, a, s, cfg.logp_steps, div, grad)
            out[f"{div}, {label} (ms)"] = 1e3 * timeit(call, cfg.min_seconds)
    return out


def run(cfg: BenchConfig, say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Every measurement; ``say(text)`` is told which part is being timed as it starts."""
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(0)
    tell = say or (lambda text: None)
    tell(f"timing training steps at batch {cfg.train_batch} (3 models)")
    train = bench_training(cfg)
    tell(f"timing sampling at batch 1 and {cfg.big_batch}, {len(cfg.steps)} step counts")
    sampling = bench_sampling(cfg)
    tell(f"timing log-likelihoods ({cfg.logp_steps} RK4 steps, batch {cfg.logp_batch})")
    log_prob = bench_log_prob(cfg)
    return {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "threads": cfg.threads,
            "torch": torch.__version__,
        },
        "config": cfg.__dict__,
        "train_steps_per_s": train,
        "actions_per_s": sampling,
        f"log_prob_{cfg.logp_steps}_rk4_steps_batch_{cfg.logp_batch}": log_prob,
    }


def format_report(res: dict[str, Any]) -> str:
    lines = [f"machine: {res['machine']}"]
    lines.append(
        f"training steps/s (loss + backward + Adam, batch {res['config']['train_batch']}):"
    )
    for k, v in res["train_steps_per_s"].items():
        lines.append(f"  {k:<20} {v:8.1f}")
    lines.append("actions/s by number of steps (ODE steps or flow-map jumps):")
    for k, row in res["actions_per_s"].items():
        cells = "  ".join(f"{n:>3}: {v:>10.0f}" for n, v in row.items())
        lines.append(f"  {k:<42} {cells}")
    key = next(k for k in res if k.startswith("log_prob"))
    lines.append(f"{key}:")
    for k, v in res[key].items():
        lines.append(f"  {k:<36} {v:8.1f}")
    return "\n".join(lines)
