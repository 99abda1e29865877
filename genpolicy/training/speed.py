"""Training and acting speed of a config, measured without writing a run folder
(``genpolicy train NAME --speed N``)."""

from __future__ import annotations

import time
from typing import Any

import torch

from genpolicy.rl.algos import build_algorithm
from genpolicy.training.config import RunConfig
from genpolicy.training.run_data import load_data
from genpolicy.training.trainer import seed_everything


def measure_speed(
    cfg: RunConfig, steps: int = 20, *, dataset: Any = None, warmup: int = 3
) -> dict[str, float]:
    """Updates per second of ``cfg``'s algorithm at its batch size (nothing is written).

    Each of the algorithm's ``speed_phases()`` is timed from its start (e.g. GMPG's
    behaviour pretraining and policy gradient): the last as ``steps_per_s``, the others as
    ``<phase>_steps_per_s``. With ``train.compile`` on, the ``warmup`` updates before each
    timing compile the phase's step (not timed).
    """
    seed_everything(cfg.train.seed)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    data = dataset if dataset is not None else load_data(cfg)
    algo = build_algorithm(
        cfg.algo, cfg.model, cfg.critic, data.obs_dim, data.act_dim, cfg.train.device
    )
    algo.set_horizon(cfg.train.steps)  # the learning rates of the configured run
    algo.attach_dataset(data)
    if cfg.train.compile != "off":  # warm-up updates compile each phase before timing
        algo.compile_update(cfg.train.compile)
    gen = torch.Generator(device=data.device).manual_seed(0)

    def timed() -> float:
        for _ in range(warmup):
            algo.update(data.sample(algo.batch_size, generator=gen))
        t0 = time.perf_counter()
        for _ in range(steps):
            info = algo.update(data.sample(algo.batch_size, generator=gen))
        torch.stack([v.float() for v in info.values()]).sum().item()  # wait for the device
        return steps / (time.perf_counter() - t0)

    out: dict[str, float] = {}
    phases = algo.speed_phases()
    for i, phase in enumerate(phases):
        algo.start_phase(phase)  # e.g. after the critic warm-up: time full updates
        out["steps_per_s" if i == len(phases) - 1 else f"{phase}_steps_per_s"] = timed()
    out = {k: out[k] for k in sorted(out, key=lambda k: k == "steps_per_s")}
    obs = data.observations[:1].cpu().numpy()
    algo.eval()
    for _ in range(warmup):
        algo.act(obs)
    t0 = time.perf_counter()
    n_act = max(steps, 20)
    for _ in range(n_act):
        algo.act(obs)
    out["actions_per_s"] = n_act / (time.perf_counter() - t0)
    return out
