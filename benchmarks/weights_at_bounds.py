"""Where an advantage-weighted algorithm's weights put the data's mass: for each run's last
checkpoint, the share of action components at the action bound (|a| >= 0.999) and the mean
|a| in the data and under the weights of its own policy loss (``config_weights``: e.g.
min(exp(beta A(s, a)), clamp)) from its own critic.

    python benchmarks/weights_at_bounds.py RUN [RUN ...] --rows 20000 --out FILE.json

Each RUN is a run folder of GMPO or IQL trained on a D4RL-layout dataset; the first
``--rows`` transitions of its dataset are scored.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from genpolicy.data.readers import read_raw
from genpolicy.rl.algos.weighting import config_weights
from genpolicy.training.checkpoint import load_algorithm


def score(run: Path, rows: int) -> dict[str, object]:
    algo, cfg, _ = load_algorithm(run / "checkpoints" / "last")
    raw = read_raw(cfg.data.dataset).arrays  # raw observations: the algorithm normalises
    obs = torch.as_tensor(np.asarray(raw["observations"][:rows]), dtype=torch.float32)
    act = torch.as_tensor(np.asarray(raw["actions"][:rows]), dtype=torch.float32)
    with torch.no_grad():
        adv = algo.critic.advantage((obs - algo.obs_shift) / algo.obs_scale, act).squeeze(-1)
        w = config_weights(adv, algo.cfg)  # the weights its policy loss uses
    at_bound = (act.abs() >= 0.999).float()
    size = act.abs().mean(-1)
    return {
        "run": run.name,
        "dataset": cfg.data.dataset,
        "beta": algo.cfg.beta,
        "rows": int(act.shape[0]),
        "advantage_std": round(float(adv.std()), 3),
        "share_at_bound_data": round(float(at_bound.mean()), 3),
        "share_at_bound_weighted": round(
            float((w[:, None] * at_bound).sum() / w.sum() / act.shape[1]), 3
        ),
        "mean_abs_action_data": round(float(size.mean()), 3),
        "mean_abs_action_weighted": round(float((w * size).sum() / w.sum()), 3),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--rows", type=int, default=20000)
    p.add_argument("--out", type=Path)
    a = p.parse_args()
    torch.set_num_threads(1)
    res = [score(r, a.rows) for r in a.runs]
    text = json.dumps(
        {
            "question": "Do the critic's weights move the data's mass toward saturated actions?",
            "rows": res,
        },
        indent=1,
    )
    if a.out:
        a.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
