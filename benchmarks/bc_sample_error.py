"""How fast a generative model clones behaviour data: the mean squared distance between its
sampled actions and the data's actions on held-out states, against updates of its own
matching loss (no critic, every weight 1).

    OMP_NUM_THREADS=1 python benchmarks/bc_sample_error.py --dataset hopper-noisy-expert-v5 \
        --updates 2000 --out benchmarks/results/bc_sample_error.json

Variants (``--variants``, comma-separated):
  flowmap          GTP's flow map of gtp/hopper-medium without preconditioning
                   (``model.precondition: false``, as the configs shipped before);
  flowmap-precond  the same with ``model.precondition: true`` (as shipped now);
  flow             GMPO's I-CFM flow of cpu/hopper-medium-gmpo.
Each trains from the same seed on the same batches (batch 256, Adam lr 3e-4), and every
``--every`` updates samples one action per held-out state (flow maps: K = 1, 2, 5 jumps;
flows: 8 and 32 Euler steps) from a fixed prior draw.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path
from typing import Any

import torch

from genpolicy.experiments.jsonio import compact_json
from genpolicy.generative.models import build_model
from genpolicy.training.config import load
from genpolicy.training.run_data import load_data

VARIANTS: dict[str, tuple[str, dict[str, Any], tuple[int, ...]]] = {
    "flowmap": ("gtp/hopper-medium", {"precondition": False}, (1, 2, 5)),
    "flowmap-precond": ("gtp/hopper-medium", {"precondition": True}, (1, 2, 5)),
    "flow": ("cpu/hopper-medium-gmpo", {}, (8, 32)),
}


def run(variant: str, dataset: str, updates: int, every: int, seed: int) -> list[dict[str, Any]]:
    config, model_changes, steps = VARIANTS[variant]
    cfg = load(config, {"data.dataset": dataset})
    data = load_data(cfg)
    torch.manual_seed(seed)
    model = build_model(
        dataclasses.replace(cfg.model, **model_changes),
        action_dim=data.act_dim,
        state_dim=data.obs_dim,
    )
    opt = torch.optim.Adam(model.parameters(), lr=3e-4)
    batches = torch.Generator().manual_seed(seed)
    test = data.sample(2048, torch.Generator().manual_seed(10_000 + seed))
    rows, start = [], time.perf_counter()
    for i in range(1, updates + 1):
        b = data.sample(256, batches)
        loss = model.loss(b.actions, b.observations).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.update_target()  # the flow map's EMA consistency target; a no-op for flows
        if i % every == 0:
            with torch.no_grad():
                mse = {}
                for k in steps:
                    g = torch.Generator().manual_seed(1)
                    a = model.sample(test.observations, steps=k, generator=g)
                    mse[str(k)] = (a - test.actions).square().mean().item()
            rows.append({"update": i, "mse": mse, "seconds": time.perf_counter() - start})
            print(f"{variant:16s} {i:6d} " + " ".join(f"K{k} {v:.4f}" for k, v in mse.items()))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="hopper-noisy-expert-v5")
    ap.add_argument("--variants", default="flowmap,flowmap-precond,flow")
    ap.add_argument("--updates", type=int, default=2000)
    ap.add_argument("--every", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    torch.set_num_threads(1)
    results = {
        v: run(v, args.dataset, args.updates, args.every, args.seed)
        for v in args.variants.split(",")
    }
    if args.out:
        doc = {"dataset": args.dataset, "seed": args.seed, "batch": 256, "lr": 3e-4}
        Path(args.out).write_text(compact_json({**doc, "results": results}))


if __name__ == "__main__":
    main()
