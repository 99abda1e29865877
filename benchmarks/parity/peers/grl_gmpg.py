"""GenerativeRL's own GMPG on a D4RL-layout dataset, evaluated as genpolicy evaluates.

Two steps, two interpreters:

    # 1. with genpolicy's python: the dataset's arrays (a file, a suite name, a Minari id)
    python benchmarks/parity/peers/grl_gmpg.py export hopper-medium-replay-v5 hmr.npz
    # 2. with the peer's virtualenv (benchmarks/parity/peers/generativerl.sh VENV) and
    #    GenerativeRL's source on the path
    PYTHONPATH=GRL_SOURCE VENV/bin/python benchmarks/parity/peers/grl_gmpg.py run \\
        hmr.npz --seed 0 --out results.jsonl

Step 2 reads GenerativeRL's own D4RL config for the dataset's task and level,
``grl_pipelines/benchmark/gmpg/<model>/<task>_<level>.py`` (``--model`` icfm, gvp or vpsde;
``--peer-config`` names another file), builds its ``GMPGPolicy`` from the config's networks,
probability path and solver, and runs the phases of its ``GMPGAlgorithm.train`` in their
order, with the config's batches, learning rates and temperature, without the wandb,
checkpoint, analysis and simulator plumbing (and without its ``torch.compile`` wrapper,
whose methods its training calls uncompiled):

1. behaviour model: ``--behaviour-steps`` updates of ``behaviour_policy_loss`` (the matching
   loss of the base model) with Adam;
2. critic: ``--critic-steps`` IQL updates (``grl_common.iql_critic_phase``: its
   ``GMPGCritic.v_loss`` and ``iql_q_loss``, Polyak target);
3. policy: the guided model starts as a copy of the base model; ``--policy-steps`` updates of
   ``policy_gradient_loss``: actions from a differentiable pass of the guided model's ODE
   (``gradtime_step`` Euler steps), -beta Q(s, a) + (log pi(a|s) - log mu(a|s)) / (d ln 2),
   both likelihoods by its ``compute_likelihood`` (Hutchinson's trace estimator, adjoint ODE),
   the loss scaled by the batch's share of the configured batch (a short last batch counts
   less), Adam.

Each phase draws from its own replay buffer as GenerativeRL's does (shuffled epochs without
replacement, the last batch of an epoch short). The step counts default to the config's
epochs times the batches per epoch on this data; ``--set KEY=VALUE`` changes a key of the
config's ``train.parameter`` (e.g. ``guided_policy.batch_size=64``). The data is what its
``GPD4RLTensorDictDataset`` makes of a D4RL file (``grl_common.load_data``).

Evaluation is genpolicy's (``grl_common.Evaluator``) after every ``--eval-every`` policy
updates (default: a fifth of the phase) and at the end. The policy acts as GenerativeRL's
evaluation does: one sample of the guided model's ODE on ``linspace(0, 1, t_span)``,
unclipped (``--clip-actions`` clips it to [-1, 1] as genpolicy's policies do). Prints, and
appends to ``--out``, one JSON line per evaluation.
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
    from grl.algorithms.gmpg import GMPGPolicy
    from grl.utils import set_seed

    data = load_data(a.data, a.env)
    config, config_name = load_peer_config("gmpg", a.model, data, a.peer_config)
    par = config.train.parameter
    overrides = apply_overrides(par, a.set)
    if par.algorithm_type != "GMPG":
        raise SystemExit(f"{config_name}: algorithm_type {par.algorithm_type}; this runs GMPG")
    bp, cp, gp = par.behaviour_policy, par.critic, par.guided_policy
    if a.beta is not None:
        gp.beta = overrides["guided_policy.beta"] = a.beta
    steps = {
        "behaviour": a.behaviour_steps,
        "critic": a.critic_steps,
        "policy": a.policy_steps,
    }
    for name, section in (("behaviour", bp), ("critic", cp), ("policy", gp)):
        if steps[name] is None:
            steps[name] = updates_for(section.epochs, data.n, section.batch_size)
    beta = gp.get("beta", 1.0)  # GMPGAlgorithm.train's default where a config has none
    repeats = gp.get("repeats", 1)
    s, act = data.s, data.a

    set_seed(a.seed)  # as GMPGAlgorithm(seed=...): random, numpy and torch
    policy = GMPGPolicy(config.train.model.GPPolicy)
    t_span = torch.linspace(0.0, 1.0, par.t_span)
    log_eval = Evaluator(
        data,
        a.eval_episodes,
        a.eval_seed,
        a.out,
        {
            "peer": "GenerativeRL",
            "peer_commit": peer_commit(),
            "peer_config": config_name,
            "algo": "gmpg",
            "model": a.model,
            "env": data.env_id,
            "dataset": data.dataset,
            "seed": a.seed,
            "beta": beta,
            "batch": {"behaviour": bp.batch_size, "critic": cp.batch_size, "policy": gp.batch_size},
            "lr": {
                "behaviour": bp.learning_rate,
                "critic": cp.learning_rate,
                "policy": gp.learning_rate,
            },
            "gradtime_step": gp.gradtime_step,
            "t_span": par.t_span,
            "overrides": overrides,
            "behaviour_steps": steps["behaviour"],
            "critic_steps": steps["critic"],
        },
    )
    print(
        f"{config_name}: {data.n} transitions, reward scale {data.reward_scale:.4f}; "
        f"beta {beta}; {steps['behaviour']} behaviour, {steps['critic']} critic and "
        f"{steps['policy']} policy updates",
        file=sys.stderr,
        flush=True,
    )
    if a.dry_run:
        return

    # 1. behaviour model (the base model), GMPGAlgorithm.train's first phase
    b_opt = torch.optim.Adam(policy.base_model.model.parameters(), lr=bp.learning_rate)
    batches = epoch_batches(data.n, bp.batch_size)
    max_lik = bp.get("maximum_likelihood", False)

    def behaviour_update(_: int) -> dict[str, float]:
        i = next(batches)
        loss = policy.behaviour_policy_loss(action=act[i], state=s[i], maximum_likelihood=max_lik)
        b_opt.zero_grad()
        loss.backward()
        b_opt.step()
        return {"loss": loss.item()}

    behaviour = run_phase("behaviour", steps["behaviour"], behaviour_update)

    # 2. critic
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

    # 3. policy: the guided model from the base model, then the policy gradient
    policy.guided_model.model.load_state_dict(policy.base_model.model.state_dict())
    g_opt = torch.optim.Adam(policy.guided_model.parameters(), lr=gp.learning_rate)
    batches = epoch_batches(data.n, gp.batch_size)

    def policy_update(_: int) -> dict[str, float]:
        i = next(batches)
        loss, q_loss, log_p, log_u = policy.policy_gradient_loss(
            s[i], gradtime_step=gp.gradtime_step, beta=beta, repeats=repeats
        )
        g_opt.zero_grad()
        loss = (loss * (len(i) / gp.batch_size)).mean()
        loss.backward()
        g_opt.step()
        return {
            "loss": loss.item(),
            "q_term": q_loss.item(),
            "log_p": log_p.item(),
            "log_u": log_u.item(),
        }

    def act_fn(obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = policy.sample(state=torch.as_tensor(obs, dtype=torch.float32), t_span=t_span)
        return (out.clamp(-1.0, 1.0) if a.clip_actions else out).numpy()

    def after(step: int, phase: Phase) -> None:
        if due(step, steps["policy"], a.eval_every):
            log_eval(
                act_fn,
                step,
                updates_per_s=phase.rate,
                behaviour_updates_per_s=behaviour.rate,
                critic_updates_per_s=critic.rate,
                losses={
                    "behaviour": behaviour.summary(),
                    "critic": critic.summary(),
                    "policy": phase.summary(),
                },
                clip_actions=a.clip_actions,
            )

    run_phase("policy", steps["policy"], policy_update, after)


def add_args(r: argparse.ArgumentParser) -> None:
    add_run_args(r)
    r.add_argument("--model", choices=("icfm", "gvp", "vpsde"), default="icfm")
    r.add_argument("--beta", type=float, help="the temperature (default: the config's)")
    for phase in ("behaviour", "critic", "policy"):
        r.add_argument(
            f"--{phase}-steps",
            type=int,
            help="updates (default: the config's epochs times the batches per epoch)",
        )


if __name__ == "__main__":
    main(__doc__ or "", add_args, run)
