"""Where a trained policy's actions sit relative to the data's, and what its critic thinks of
them: a check for policies that chase an extrapolating Q to the edge of the action box.

    OMP_NUM_THREADS=1 python benchmarks/policy_actions.py RUN [RUN ...] [--states 1024] \
        [--out FILE.json]

For each run (its last checkpoint), on ``--states`` dataset states drawn with a fixed seed,
one policy action per state (``act.candidates`` = 1, the run's sampler and acting weights):

* ``saturated``: share of action coordinates at |a| > 0.99, for the policy and the data;
* ``dist_to_data``: mean |a_pi - a_data| per coordinate (a_data: the dataset's action at
  that state);
* ``q_policy`` / ``q_data`` / ``q_uniform``: mean Q of the policy's actions, the data's
  and uniform random ones, with the critic the algorithm ranks candidates by
  (``q_for_ranking``), when it has one.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import torch

from genpolicy.experiments.jsonio import compact_json
from genpolicy.training.checkpoint import load_algorithm
from genpolicy.training.run_data import load_data


def diagnose(run: str, states: int) -> dict[str, Any]:
    algo, cfg, _ = load_algorithm(run, "cpu")
    data = load_data(cfg)
    batch = data.sample(states, torch.Generator().manual_seed(0))
    s, a_data = batch.observations, batch.actions
    act_cfg = getattr(cfg.algo, "act", None)
    if act_cfg is not None:
        act_cfg = dataclasses.replace(act_cfg, candidates=1)
    algo.seed_acting(0)
    with torch.no_grad():
        a_pi = algo.act_normalized(s, act_cfg).clamp(-1.0, 1.0)
        out: dict[str, Any] = {
            "run": run,
            "algo": cfg.algo.name,
            "step": algo.num_updates,
            "saturated_policy": (a_pi.abs() > 0.99).float().mean().item(),
            "saturated_data": (a_data.abs() > 0.99).float().mean().item(),
            "dist_to_data": (a_pi - a_data).abs().mean().item(),
        }
        if getattr(algo, "critic", None) is not None:
            uniform = torch.rand(a_pi.shape, generator=torch.Generator().manual_seed(1)) * 2 - 1
            for name, a in (("policy", a_pi), ("data", a_data), ("uniform", uniform)):
                out[f"q_{name}"] = algo.q_for_ranking(s, a).mean().item()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--states", type=int, default=1024)
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    for run in args.runs:
        row = diagnose(run, args.states)
        rows.append(row)
        print(
            f"{Path(run).name:40s} step {row['step']:6d}  saturated {row['saturated_policy']:.2f}"
            f" (data {row['saturated_data']:.2f})  |a - a_data| {row['dist_to_data']:.3f}"
            + "".join(
                f"  {k} {row[k]:.1f}" for k in ("q_policy", "q_data", "q_uniform") if k in row
            )
        )
    if args.out:
        Path(args.out).write_text(compact_json({"states": args.states, "rows": rows}))


if __name__ == "__main__":
    main()
