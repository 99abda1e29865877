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

from grl_common import (
    act_fn_of,
    adam_phase,
    add_run_args,
    add_steps_args,
    announce,
    config_critic_phase,
    epoch_batches,
    load_run,
    main,
    phase_steps,
    prepare_peer,
    run_evaluator,
    run_phase,
)


def run(a: argparse.Namespace) -> None:
    prepare_peer(a.threads)
    import torch
    from grl.algorithms.gmpg import GMPGPolicy
    from grl.utils import set_seed

    data, config, config_name, overrides = load_run(a, "gmpg", a.model)
    par = config.train.parameter
    if par.algorithm_type != "GMPG":
        raise SystemExit(f"{config_name}: algorithm_type {par.algorithm_type}; this runs GMPG")
    bp, cp, gp = par.behaviour_policy, par.critic, par.guided_policy
    if a.beta is not None:
        gp.beta = overrides["guided_policy.beta"] = a.beta
    steps = phase_steps(a, data, {"behaviour": bp, "critic": cp, "policy": gp})
    beta = gp.get("beta", 1.0)  # GMPGAlgorithm.train's default where a config has none
    repeats = gp.get("repeats", 1)
    s, act = data.s, data.a

    set_seed(a.seed)  # as GMPGAlgorithm(seed=...): random, numpy and torch
    policy = GMPGPolicy(config.train.model.GPPolicy)
    t_span = torch.linspace(0.0, 1.0, par.t_span)
    log_eval = run_evaluator(
        a,
        data,
        "gmpg",
        a.model,
        config_name,
        beta=beta,
        batch={"behaviour": bp.batch_size, "critic": cp.batch_size, "policy": gp.batch_size},
        lr={"behaviour": bp.learning_rate, "critic": cp.learning_rate, "policy": gp.learning_rate},
        gradtime_step=gp.gradtime_step,
        t_span=par.t_span,
        overrides=overrides,
        behaviour_steps=steps["behaviour"],
        critic_steps=steps["critic"],
    )
    announce(config_name, data, steps, beta)
    if a.dry_run:
        return

    # 1. behaviour model (the base model), GMPGAlgorithm.train's first phase
    max_lik = bp.get("maximum_likelihood", False)
    behaviour = adam_phase(
        "behaviour",
        steps["behaviour"],
        policy.base_model.model.parameters(),
        bp.learning_rate,
        data,
        bp.batch_size,
        lambda i: policy.behaviour_policy_loss(
            action=act[i], state=s[i], maximum_likelihood=max_lik
        ),
    )

    # 2. critic
    critic = config_critic_phase(policy.critic, data, steps["critic"], cp)

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

    act_fn = act_fn_of(lambda state: policy.sample(state=state, t_span=t_span), a.clip_actions)
    after = log_eval.after(
        act_fn, steps["policy"], a.eval_every, [behaviour, critic], a.clip_actions
    )
    run_phase("policy", steps["policy"], policy_update, after)


def add_args(r: argparse.ArgumentParser) -> None:
    add_run_args(r)
    r.add_argument("--model", choices=("icfm", "gvp", "vpsde"), default="icfm")
    r.add_argument("--beta", type=float, help="the temperature (default: the config's)")
    add_steps_args(r, ("behaviour", "critic", "policy"), "epochs")


if __name__ == "__main__":
    main(__doc__ or "", add_args, run)
