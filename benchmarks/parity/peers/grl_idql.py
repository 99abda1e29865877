"""GenerativeRL's own IDQL on a D4RL-layout dataset, evaluated as genpolicy evaluates.

Two steps, two interpreters:

    # 1. with genpolicy's python: the dataset's arrays (a file, a suite name, a Minari id)
    python benchmarks/parity/peers/grl_idql.py export hopper-medium-replay-v5 hmr.npz
    # 2. with the peer's virtualenv (benchmarks/parity/peers/generativerl.sh VENV) and
    #    GenerativeRL's source on the path
    PYTHONPATH=GRL_SOURCE VENV/bin/python benchmarks/parity/peers/grl_idql.py run \\
        hmr.npz --seed 0 --out results.jsonl

Step 2 reads GenerativeRL's own D4RL config for the dataset's task and level,
``grl_pipelines/benchmark/idql/vpsde/<task>_<level>.py`` (``--peer-config`` names another
file), builds its ``IDQLPolicy`` (its IQL critic and its VP-SDE noise-prediction behaviour
model) and runs the phases of its ``IDQLAlgorithm.train`` in their order, with the config's
batches and learning rates, without the wandb, checkpoint and simulator plumbing (and
without its ``torch.compile`` wrapper, whose methods its training calls uncompiled):

1. critic: ``--critic-steps`` IQL updates (``grl_common.iql_critic_phase``: its
   ``IDQLCritic.v_loss`` and ``iql_q_loss``, Polyak target);
2. behaviour model: ``--behaviour-steps`` updates of ``behaviour_policy_loss`` (its
   ``score_matching_loss`` with the "vanilla" weighting) with Adam.

Each phase draws from its own replay buffer as GenerativeRL's does (shuffled epochs without
replacement, the last batch of an epoch short). The step counts default to the config's
epochs times the batches per epoch on this data; ``--set KEY=VALUE`` changes a key of the
config's ``train.parameter`` (e.g. ``critic.tau=0.9``). The data is what its
``GPD4RLTensorDictDataset`` makes of a D4RL file (``grl_common.load_data``).
``IDQLAlgorithm.train`` seeds with its config's deploy seed (0) after building the networks;
here ``--seed`` seeds both.

Evaluation is genpolicy's (``grl_common.Evaluator``) after every ``--eval-every`` behaviour
updates (default: a fifth of the phase) and at the end. The policy acts with the peer's own
``IDQLPolicy.get_action``, called state by state as its evaluation calls it (the method
draws one softmax over all the states it is given): ``repeat_sample_batch`` (100) actions of
the behaviour model (its DPM-Solver, order 2, 17 steps), one of them drawn with probability
softmax(min of the target double Q). The action is unclipped (``--clip-actions`` clips it to
[-1, 1] as genpolicy's policies do). Prints, and appends to ``--out``, one JSON line per
evaluation.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from grl_common import (
    Evaluator,
    Phase,
    add_run_args,
    apply_overrides,
    due,
    epoch_batches,
    iql_critic_phase,
    load_data,
    load_peer_config,
    main,
    peer_commit,
    prepare_peer,
    run_phase,
    updates_for,
)


def run(a: argparse.Namespace) -> None:
    prepare_peer(a.threads)
    import torch
    from grl.algorithms.idql import IDQLPolicy
    from grl.utils import set_seed

    data = load_data(a.data, a.env)
    config, config_name = load_peer_config("idql", "vpsde", data, a.peer_config)
    par = config.train.parameter
    overrides = apply_overrides(par, a.set)
    cp, bp = par.critic, par.behaviour_policy
    steps = {"critic": a.critic_steps, "behaviour": a.behaviour_steps}
    for name, section in (("critic", cp), ("behaviour", bp)):
        if steps[name] is None:
            steps[name] = updates_for(section.epochs, data.n, section.batch_size)
    s, act = data.s, data.a

    set_seed(a.seed)
    policy = IDQLPolicy(config.train.model.IDQLPolicy)
    log_eval = Evaluator(
        data,
        a.eval_episodes,
        a.eval_seed,
        a.out,
        {
            "peer": "GenerativeRL",
            "peer_commit": peer_commit(),
            "peer_config": config_name,
            "algo": "idql",
            "model": "vpsde",
            "env": data.env_id,
            "dataset": data.dataset,
            "seed": a.seed,
            "batch": {"critic": cp.batch_size, "behaviour": bp.batch_size},
            "lr": {"critic": cp.learning_rate, "behaviour": bp.learning_rate},
            "tau": cp.tau,
            "candidates": policy.repeat_sample_batch,
            "overrides": overrides,
            "critic_steps": steps["critic"],
        },
    )
    print(
        f"{config_name}: {data.n} transitions, reward scale {data.reward_scale:.4f}; "
        f"{steps['critic']} critic and {steps['behaviour']} behaviour updates",
        file=sys.stderr,
        flush=True,
    )
    if a.dry_run:
        return

    # 1. critic, IDQLAlgorithm.train's first phase
    critic = iql_critic_phase(
        policy.critic,
        data,
        steps["critic"],
        cp.batch_size,
        cp.learning_rate,
        cp.tau,
        cp.discount_factor,
        cp.update_momentum,
    )

    # 2. behaviour model
    b_opt = torch.optim.Adam(policy.diffusion_model.model.parameters(), lr=bp.learning_rate)
    batches = epoch_batches(data.n, bp.batch_size)

    def behaviour_update(_: int) -> dict[str, float]:
        i = next(batches)
        loss = policy.behaviour_policy_loss(act[i], s[i])
        b_opt.zero_grad()
        loss.backward()
        b_opt.step()
        return {"loss": loss.item()}

    def act_fn(obs: np.ndarray) -> np.ndarray:
        state = torch.as_tensor(obs, dtype=torch.float32)
        out = torch.cat([policy.get_action(state[k : k + 1]) for k in range(len(state))])
        return (out.clamp(-1.0, 1.0) if a.clip_actions else out).numpy()

    def after(step: int, phase: Phase) -> None:
        if due(step, steps["behaviour"], a.eval_every):
            log_eval(
                act_fn,
                step,
                updates_per_s=phase.rate,
                critic_updates_per_s=critic.rate,
                losses={"critic": critic.summary(), "behaviour": phase.summary()},
                clip_actions=a.clip_actions,
            )

    run_phase("behaviour", steps["behaviour"], behaviour_update, after)


def add_args(r: argparse.ArgumentParser) -> None:
    add_run_args(r)
    for phase in ("critic", "behaviour"):
        r.add_argument(
            f"--{phase}-steps",
            type=int,
            help="updates (default: the config's epochs times the batches per epoch)",
        )


if __name__ == "__main__":
    main(__doc__ or "", add_args, run)
