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

from grl_common import (
    act_fn_of,
    adam_phase,
    add_run_args,
    add_steps_args,
    announce,
    config_critic_phase,
    load_run,
    main,
    phase_steps,
    prepare_peer,
    run_evaluator,
)


def run(a: argparse.Namespace) -> None:
    prepare_peer(a.threads)
    import torch
    from grl.algorithms.idql import IDQLPolicy
    from grl.utils import set_seed

    data, config, config_name, overrides = load_run(a, "idql", "vpsde")
    par = config.train.parameter
    cp, bp = par.critic, par.behaviour_policy
    steps = phase_steps(a, data, {"critic": cp, "behaviour": bp})
    s, act = data.s, data.a

    set_seed(a.seed)
    policy = IDQLPolicy(config.train.model.IDQLPolicy)
    log_eval = run_evaluator(
        a,
        data,
        "idql",
        "vpsde",
        config_name,
        batch={"critic": cp.batch_size, "behaviour": bp.batch_size},
        lr={"critic": cp.learning_rate, "behaviour": bp.learning_rate},
        tau=cp.tau,
        candidates=policy.repeat_sample_batch,
        overrides=overrides,
        critic_steps=steps["critic"],
    )
    announce(config_name, data, steps)
    if a.dry_run:
        return

    # 1. critic, IDQLAlgorithm.train's first phase
    critic = config_critic_phase(policy.critic, data, steps["critic"], cp)

    # 2. behaviour model; the policy acts state by state (get_action draws one softmax over
    # all the states it is given)
    def sample(state: torch.Tensor) -> torch.Tensor:
        return torch.cat([policy.get_action(state[k : k + 1]) for k in range(len(state))])

    act_fn = act_fn_of(sample, a.clip_actions)
    adam_phase(
        "behaviour",
        steps["behaviour"],
        policy.diffusion_model.model.parameters(),
        bp.learning_rate,
        data,
        bp.batch_size,
        lambda i: policy.behaviour_policy_loss(act[i], s[i]),
        log_eval.after(act_fn, steps["behaviour"], a.eval_every, [critic], a.clip_actions),
    )


def add_args(r: argparse.ArgumentParser) -> None:
    add_run_args(r)
    add_steps_args(r, ("critic", "behaviour"), "epochs")


if __name__ == "__main__":
    main(__doc__ or "", add_args, run)
