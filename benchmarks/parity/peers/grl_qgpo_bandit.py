"""GenerativeRL's own QGPO on genpolicy's toy bandit: the share of actions in the best mode.

Two steps, two interpreters:

    # 1. with genpolicy's python: write the bandit data and the evaluation states
    python benchmarks/parity/peers/grl_qgpo_bandit.py export bandit.npz
    # 2. with the peer's virtualenv (benchmarks/parity/peers/generativerl.sh VENV) and
    #    GenerativeRL's source on the path
    PYTHONPATH=GRL_SOURCE VENV/bin/python benchmarks/parity/peers/grl_qgpo_bandit.py \
        run bandit.npz --seed 0

Step 2 builds GenerativeRL's ``QGPOPolicy`` (VP diffusion with noise prediction, its double Q
critic with the in-support softmax backup, its CEP energy guidance, its DPM-Solver sampler)
and runs the phases of its ``QGPOAlgorithm.train`` (behaviour matching, support actions drawn
once per dataset state, Q + CEP updates) without its wandb / simulator plumbing. The measure
is genpolicy's ``toy_bandit.mode_fractions`` (imported from this checkout: it needs only torch
and numpy). Prints one JSON line per guidance scale.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
EVAL_STATES, EVAL_SEED = 2000, 123  # the states the genpolicy toy tests act on


def export(out: str) -> None:
    import torch

    from genpolicy.envs import toy_bandit as tb

    arr = tb.behaviour_arrays(20_000, seed=0)  # the data of the built-in toy-bandit dataset
    g = torch.Generator().manual_seed(EVAL_SEED)
    obs = (torch.rand(EVAL_STATES, 2, generator=g) * 2 - 1).numpy()
    np.savez(out, **arr, eval_observations=obs)
    print(f"wrote {out}: {len(arr['observations'])} transitions, {len(obs)} evaluation states")


def policy_config(device: str, support: int) -> dict:
    import grl_compat  # on sys.path: run() puts this folder there

    t_dim = 32
    t_encoder = {
        "type": "GaussianFourierProjectionTimeEncoder",
        "args": {"embed_dim": t_dim, "scale": 30.0},
    }
    path = {"type": "linear_vp_sde", "beta_0": 0.1, "beta_1": 20.0}
    return {
        "device": device,
        "critic": {
            "device": device,
            "q_alpha": 1.0,
            "DoubleQNetwork": grl_compat.double_q(4),
        },
        "diffusion_model": {
            "device": device,
            "x_size": 2,
            "alpha": None,  # set by run(): the CEP temperature beta
            "solver": {"type": "DPMSolver", "args": {"order": 2, "device": device, "steps": 17}},
            "path": path,
            "reverse_path": path,
            "model": {
                "type": "noise_function",
                "args": {
                    "t_encoder": t_encoder,
                    "backbone": {
                        "type": "TemporalSpatialResidualNet",
                        "args": {
                            "hidden_sizes": [512, 256, 128],
                            "output_dim": 2,
                            "t_dim": t_dim,
                            "condition_dim": 2,
                            "condition_hidden_dim": 32,
                            "t_condition_hidden_dim": 128,
                        },
                    },
                },
            },
            "energy_guidance": {
                "t_encoder": t_encoder,
                "backbone": {
                    "type": "ConcatenateMLP",
                    "args": {
                        "hidden_sizes": [4 + t_dim, 256, 256],
                        "output_size": 1,
                        "activation": "silu",
                    },
                },
            },
        },
    }


def run(a: argparse.Namespace) -> None:
    sys.path.insert(0, str(HERE))
    import grl_compat  # noqa: F401  (before grl: see its docstring)
    import torch
    from easydict import EasyDict
    from grl.algorithms.qgpo import QGPOPolicy

    sys.path.insert(0, str(ROOT))
    from genpolicy.envs import toy_bandit as tb

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    d = np.load(a.data)
    s = torch.as_tensor(d["observations"], dtype=torch.float32)
    act = torch.as_tensor(d["actions"], dtype=torch.float32)
    r = torch.as_tensor(d["rewards"], dtype=torch.float32).view(-1, 1)
    s2 = torch.as_tensor(d["next_observations"], dtype=torch.float32)
    done = torch.as_tensor(d["terminals"], dtype=torch.float32).view(-1, 1)
    obs = torch.as_tensor(d["eval_observations"], dtype=torch.float32)
    cfg = EasyDict(policy_config("cpu", a.support))
    cfg.diffusion_model.alpha = a.beta
    policy = QGPOPolicy(cfg)
    gen = torch.Generator().manual_seed(a.seed + 1)
    t0 = time.time()

    opt = torch.optim.Adam(policy.diffusion_model.model.parameters(), lr=a.behaviour_lr)
    for _ in range(a.behaviour_steps):  # phase 1: the behaviour model
        i = torch.randint(len(s), (a.batch,), generator=gen)
        loss = policy.behaviour_policy_loss(act[i], s[i])
        opt.zero_grad()
        loss.backward()
        opt.step()

    def draw_support(states: torch.Tensor) -> torch.Tensor:  # (N, M, 2), as GRL does once
        with torch.no_grad():
            return torch.stack(
                [policy.sample(state=states, guidance_scale=0.0) for _ in range(a.support)], 1
            )

    fake, fake2 = draw_support(s), draw_support(s2)
    q_opt = torch.optim.Adam(policy.critic.q.parameters(), lr=a.critic_lr)
    e_opt = torch.optim.Adam(policy.diffusion_model.energy_guidance.parameters(), lr=a.energy_lr)
    for step in range(a.energy_steps):  # phase 2: Q (first half) and CEP
        i = torch.randint(len(s), (a.energy_batch,), generator=gen)
        if step < a.energy_steps // 2:
            q_loss = policy.q_loss(act[i], s[i], r[i], s2[i], done[i], fake2[i], a.gamma)
            q_opt.zero_grad()
            q_loss.backward()
            q_opt.step()
            with torch.no_grad():
                for p, pt in zip(
                    policy.critic.q.parameters(), policy.critic.q_target.parameters(), strict=True
                ):
                    pt.mul_(1 - a.tau).add_(a.tau * p)
        e_loss = policy.energy_guidance_loss(s[i], fake[i])
        e_opt.zero_grad()
        e_loss.backward()
        e_opt.step()
    train_s = time.time() - t0

    for scale in a.guidance:
        with torch.no_grad():
            out = policy.sample(state=obs, guidance_scale=scale)
        f = tb.mode_fractions(obs, out.clamp(-1, 1))
        row = {"peer": "GenerativeRL", "seed": a.seed, "guidance_scale": scale, **f}
        print(json.dumps({**row, "train_s": round(train_s, 1)}), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export", help="write the bandit data (needs genpolicy)")
    e.add_argument("out")
    r = sub.add_parser("run", help="train the peer's QGPO (needs GenerativeRL)")
    r.add_argument("data")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--batch", type=int, default=512)
    r.add_argument("--behaviour-steps", type=int, default=1500)
    r.add_argument("--behaviour-lr", type=float, default=1e-3)
    r.add_argument("--support", type=int, default=16)
    r.add_argument("--energy-steps", type=int, default=2000)
    r.add_argument("--energy-batch", type=int, default=256)
    r.add_argument("--energy-lr", type=float, default=1e-3)
    r.add_argument("--critic-lr", type=float, default=1e-3)
    r.add_argument("--gamma", type=float, default=0.99)
    r.add_argument("--tau", type=float, default=0.005)
    r.add_argument("--beta", type=float, default=10.0)
    r.add_argument("--guidance", type=float, nargs="+", default=[0.0, 1.0, 2.0])
    a = p.parse_args()
    if a.cmd == "run" and a.support < 2:
        # GenerativeRL squeezes a support dimension of size 1 away, then takes its softmax
        p.error(f"--support must be >= 2 (GenerativeRL's losses need two or more), got {a.support}")
    export(a.out) if a.cmd == "export" else run(a)


if __name__ == "__main__":
    main()
