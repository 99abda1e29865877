"""GenerativeRL's own GMPO on a D4RL-layout dataset, evaluated as genpolicy evaluates.

Two steps, two interpreters:

    # 1. with genpolicy's python: the dataset's arrays (a file, a suite name, a Minari id)
    python benchmarks/parity/peers/grl_gmpo.py export hopper-medium-v5 hopper-medium.npz
    # 2. with the peer's virtualenv (benchmarks/parity/peers/generativerl.sh VENV) and
    #    GenerativeRL's source on the path
    PYTHONPATH=GRL_SOURCE VENV/bin/python benchmarks/parity/peers/grl_gmpo.py run \\
        hopper-medium.npz --seed 0 --out results.jsonl

Step 2 builds GenerativeRL's ``GMPOPolicy`` (its I-CFM, GVP or VP-SDE model, ``--model``,
with the networks, probability path and ODE sampler of its D4RL configs
``grl_pipelines/benchmark/gmpo/<model>/<env>_<level>.py``) and runs the phases of its
``GMPOAlgorithm.train`` without the wandb, checkpoint and simulator plumbing (and without
its ``torch.compile`` wrapper, which its training never calls: it calls the wrapped
module's methods and submodules, which run uncompiled):

* behaviour model: none (the configs train it for 0 epochs; GMPO does not use it);
* critic: ``--critic-steps`` IQL updates with GenerativeRL's ``GMPOCritic.v_loss`` (expectile
  ``tau`` on the target double-Q minimum) and ``iql_q_loss`` (double Q towards
  r + gamma (1 - d) V(s')), V then Q stepped per batch, Polyak target update;
* policy: the critic frozen, ``--policy-steps`` updates of
  ``policy_optimization_loss_by_advantage_weighted_regression``: the model's per-sample
  matching loss weighted by min(exp(beta (Q(s, a) - V(s))), weight_clamp).

Batches are drawn as its replay buffer draws them: shuffled epochs without replacement, the
last batch of an epoch short. The data is what its ``GPD4RLTensorDictDataset`` makes of a
D4RL file: ``d4rl.qlearning_dataset``'s transitions (the rows that end in a time-out and the
last row dropped), raw observations (GenerativeRL normalises no observations for D4RL) and
IQL's locomotion reward scale, r * 1000 / (max - min) over the dataset's episode returns.

Evaluation is genpolicy's (``genpolicy.envs.evaluate.evaluate``, imported from this checkout: it
needs numpy, Gymnasium and torch, which the peer brings): ``--eval-episodes`` episodes of the
Gymnasium environment seeded ``eval_seed + i``, the sampling noise seeded with ``eval_seed`` (the
training RNG is left as it was), D4RL-normalised scores. The policy acts as GenerativeRL's
evaluation does: one sample of the model's ODE on the grid ``linspace(0, 1, t_span)`` (Euler), the
action unclipped (``--clip-actions`` clips it to [-1, 1] as genpolicy's policies do). Prints, and
appends to ``--out``, one JSON line per evaluation.
"""

from __future__ import annotations

import argparse
import sys

from grl_common import (  # noqa: F401  (the shared helpers, importable from here as before)
    EVAL_SEED,
    HERE,
    ROOT,
    Evaluator,
    Phase,
    act_fn_of,
    adam_phase,
    due,
    epoch_batches,
    export,
    iql_critic_phase,
    iql_reward_scale,
    level_of,
    load_data,
    peer_commit,
    prepare_peer,
    qlearning_transitions,
    run_evaluator,
    run_phase,
)
from peer_common import main

# (beta, weight_clamp, critic epochs) of GenerativeRL's GMPO configs
# grl_pipelines/benchmark/gmpo/{icfm,gvp,vpsde}/<task>_<level>.py (the same for the three
# models); every one trains the critic and the policy at batch 4096, lr 3e-4 and 1e-4, for
# the critic epochs below and 10,000 policy epochs, with t_span 32 and 10 evaluation episodes
GRL_CONFIGS: dict[tuple[str, str], tuple[float, float, int]] = {
    ("hopper", "medium"): (16.0, 1000.0, 5000),
    ("hopper", "medium_replay"): (6.0, 100.0, 5000),
    ("hopper", "medium_expert"): (1.0, 100.0, 5000),
    ("walker2d", "medium"): (8.0, 100.0, 5000),
    ("walker2d", "medium_replay"): (8.0, 10000.0, 5000),
    ("walker2d", "medium_expert"): (1.0, 100.0, 2000),
    ("halfcheetah", "medium"): (8.0, 100.0, 5000),
    ("halfcheetah", "medium_replay"): (4.0, 400.0, 12000),
    ("halfcheetah", "medium_expert"): (1.0, 100.0, 2000),
}


# --------------------------------------------------------------------------- the peer
def policy_config(model: str, obs_dim: int, act_dim: int, device: str = "cpu") -> dict:
    """GenerativeRL's ``GPPolicy`` config of its GMPO D4RL configs for ``model``."""
    import grl_compat  # on sys.path: run() puts this folder there

    t_dim = 32
    backbone = {
        "type": "TemporalSpatialResidualNet",
        "args": {
            "hidden_sizes": [512, 256, 128],
            "output_dim": act_dim,
            "t_dim": t_dim,
            "condition_dim": obs_dim,
            "condition_hidden_dim": 32,
            "t_condition_hidden_dim": 128,
        },
    }
    t_encoder = {
        "type": "GaussianFourierProjectionTimeEncoder",
        "args": {"embed_dim": t_dim, "scale": 30.0},
    }
    gen = {
        "device": device,
        "x_size": act_dim,
        "solver": {"type": "ODESolver", "args": {"library": "torchdiffeq"}},  # Euler
    }
    if model == "icfm":
        model_type, loss = "IndependentConditionalFlowModel", "flow_matching"
        gen |= {"path": {"sigma": 0.1}}
        fn = "velocity_function"
    elif model == "gvp":
        model_type, loss = "DiffusionModel", "flow_matching"
        gen |= {"path": {"type": "gvp"}, "reverse_path": {"type": "gvp"}}
        fn = "velocity_function"
    elif model == "vpsde":
        model_type, loss = "DiffusionModel", "score_matching"
        path = {"type": "linear_vp_sde", "beta_0": 0.1, "beta_1": 20.0}
        gen |= {"path": path, "reverse_path": path}
        fn = "noise_function"
    else:
        raise ValueError(f"unknown model {model!r}")
    gen["model"] = {"type": fn, "args": {"t_encoder": t_encoder, "backbone": backbone}}
    mlp = {"output_size": 1, "activation": "relu"}
    return {
        "device": device,
        "model_type": model_type,
        "model_loss_type": loss,
        "model": gen,
        "critic": {
            "device": device,
            "q_alpha": 1.0,
            "DoubleQNetwork": grl_compat.double_q(act_dim + obs_dim),
            "VNetwork": {
                "backbone": {
                    "type": "MultiLayerPerceptron",
                    "args": {"hidden_sizes": [obs_dim, 256, 256], **mlp},
                }
            },
        },
    }


def run(a: argparse.Namespace) -> None:
    prepare_peer(a.threads)
    import torch
    from easydict import EasyDict
    from grl.algorithms.gmpo import GMPOPolicy
    from grl.utils import set_seed

    from genpolicy.envs.registry import task_of

    data = load_data(a.data, a.env)
    cell = (task_of(data.env_id) or "", data.level or "")
    beta, clamp, _ = GRL_CONFIGS.get(cell, (None, None, 0))
    beta = a.beta if a.beta is not None else beta
    clamp = a.weight_clamp if a.weight_clamp is not None else clamp
    if beta is None or clamp is None:
        raise SystemExit(
            f"GenerativeRL has no GMPO config for {data.env_id} / {data.dataset}; pass --beta "
            "and --weight-clamp"
        )
    s, act = data.s, data.a

    set_seed(a.seed)  # as GMPOAlgorithm(seed=...): random, numpy and torch
    policy = GMPOPolicy(EasyDict(policy_config(a.model, data.obs_dim, data.act_dim)))
    t_span = torch.linspace(0.0, 1.0, a.t_span)
    log_eval = run_evaluator(
        a,
        data,
        "gmpo",
        a.model,
        batch=a.batch,
        beta=beta,
        weight_clamp=clamp,
        critic_steps=a.critic_steps,
    )
    print(
        f"{data.n} transitions, reward scale {data.reward_scale:.4f}; beta {beta}, "
        f"weight clamp {clamp}",
        file=sys.stderr,
    )

    # critic: V then Q per batch, then the target (GMPOAlgorithm.train's critic phase)
    critic = iql_critic_phase(
        policy.critic, data, a.critic_steps, a.batch, a.critic_lr, a.tau, a.discount, a.momentum
    )
    act_fn = act_fn_of(lambda state: policy.sample(state=state, t_span=t_span), a.clip_actions)

    # policy: the advantage-weighted matching loss, the critic frozen (a new replay buffer,
    # so a new epoch, as in GMPOAlgorithm.train)
    adam_phase(
        "policy",
        a.policy_steps,
        policy.guided_model.parameters(),
        a.policy_lr,
        data,
        a.batch,
        lambda i: policy.policy_optimization_loss_by_advantage_weighted_regression(
            act[i], s[i], beta=beta, weight_clamp=clamp
        )[0],
        log_eval.after(act_fn, a.policy_steps, a.eval_every, [critic], a.clip_actions, False),
    )


def add_args(r: argparse.ArgumentParser) -> None:
    r.add_argument("data", help="the .npz of the export step")
    r.add_argument("--env", help="Gymnasium id (default: the dataset's, e.g. Hopper-v5)")
    r.add_argument("--model", choices=("icfm", "gvp", "vpsde"), default="icfm")
    r.add_argument("--critic-steps", type=int, default=50_000)
    r.add_argument("--policy-steps", type=int, default=50_000)
    r.add_argument("--batch", type=int, default=4096)
    r.add_argument("--policy-lr", type=float, default=1e-4)
    r.add_argument("--critic-lr", type=float, default=3e-4)
    r.add_argument("--beta", type=float, help="default: the peer's config for the dataset")
    r.add_argument("--weight-clamp", type=float, help="default: as --beta")
    r.add_argument("--tau", type=float, default=0.7, help="the V expectile")
    r.add_argument("--discount", type=float, default=0.99)
    r.add_argument("--momentum", type=float, default=0.005, help="the Q target's update")
    r.add_argument("--t-span", type=int, default=32, help="ODE grid points (t_span - 1 steps)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--eval-every", type=int, default=10_000, help="policy updates; 0: at the end")
    r.add_argument("--eval-episodes", type=int, default=10)
    r.add_argument("--eval-seed", type=int, default=EVAL_SEED)
    r.add_argument("--clip-actions", action="store_true", help="clip actions to [-1, 1]")
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--out", help="append the JSON lines to this file")


if __name__ == "__main__":
    main(__doc__ or "", "train and evaluate the peer's GMPO (needs GenerativeRL)", add_args, run)
