"""GenerativeRL's own SRPO on a D4RL-layout dataset, evaluated as genpolicy evaluates.

Two steps, two interpreters:

    # 1. with genpolicy's python: the dataset's arrays (a file, a suite name, a Minari id)
    python benchmarks/parity/peers/grl_srpo.py export hopper-medium-replay-v5 hmr.npz
    # 2. with the peer's virtualenv (benchmarks/parity/peers/generativerl.sh VENV) and
    #    GenerativeRL's source on the path
    PYTHONPATH=GRL_SOURCE VENV/bin/python benchmarks/parity/peers/grl_srpo.py run \\
        hmr.npz --seed 0 --out results.jsonl

Step 2 reads GenerativeRL's own D4RL config for the dataset's task and level,
``grl_pipelines/benchmark/srpo/vpsde/<task>_<level>.py`` (``--peer-config`` names another
file), builds its ``SRPOPolicy`` (a deterministic tanh MLP actor, its IQL critic and its
VP-SDE noise-prediction behaviour model inside ``SRPOConditionalDiffusionModel``) and runs
the phases of its ``SRPOAlgorithm.train`` in their order, with the config's batches,
learning rates and temperature, without the wandb, checkpoint and simulator plumbing (and
without its ``torch.compile`` wrapper, whose methods its training calls uncompiled):

1. behaviour model: ``--behaviour-steps`` updates of ``behaviour_policy_loss`` (its
   ``score_matching_loss``) with Adam;
2. critic: ``--critic-steps`` IQL updates (``grl_common.iql_critic_phase``: its
   ``SRPOCritic.v_loss`` and ``iql_q_loss``, Polyak target);
3. policy: the behaviour model in eval mode, ``--policy-steps`` updates of
   ``srpo_actor_loss`` (its ``srpo_loss``: the behaviour model's noise prediction at the
   actor's action noised at t ~ U(0.02, 0.98), weighted by sigma_t^2, against beta times the
   gradient of the mean of the target double Q), summed over action dimensions and averaged
   over the batch, Adam with a cosine schedule over ``tmax`` updates.

Each phase draws from its own replay buffer as GenerativeRL's does (shuffled epochs without
replacement, the last batch of an epoch short). The step counts default to the config's
``iterations`` (epochs) times the batches per epoch on this data; ``--set KEY=VALUE`` changes
a key of the config's ``train.parameter`` (e.g. ``policy.batch_size=256``). The data is what
its ``GPD4RLTensorDictDataset`` makes of a D4RL file (``grl_common.load_data``).
``SRPOAlgorithm.train`` seeds with its config's deploy seed (0) after building the networks;
here ``--seed`` seeds both.

Evaluation is genpolicy's (``grl_common.Evaluator``) after every ``--eval-every`` policy
updates (default: a fifth of the phase) and at the end. The policy acts as GenerativeRL's
``diracpolicy`` evaluation does: the actor's output, tanh(MLP(s)), so within [-1, 1].
Prints, and appends to ``--out``, one JSON line per evaluation.
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
    from grl.algorithms.srpo import SRPOPolicy
    from grl.utils import set_seed

    data, config, config_name, overrides = load_run(a, "srpo", "vpsde")
    par = config.train.parameter
    bp, cp, pp = par.behaviour_policy, par.critic, par.policy
    steps = phase_steps(a, data, {"behaviour": bp, "critic": cp, "policy": pp}, "iterations")
    model_cfg = config.train.model.SRPOPolicy
    if a.beta is not None:  # a model key: the temperature of SRPOConditionalDiffusionModel
        model_cfg.diffusion_model.beta = overrides["--beta"] = a.beta
    beta = model_cfg.diffusion_model.beta
    s, act = data.s, data.a

    set_seed(a.seed)
    policy = SRPOPolicy(model_cfg)
    log_eval = run_evaluator(
        a,
        data,
        "srpo",
        "vpsde",
        config_name,
        beta=beta,
        batch={"behaviour": bp.batch_size, "critic": cp.batch_size, "policy": pp.batch_size},
        lr={"behaviour": bp.learning_rate, "critic": cp.learning_rate, "policy": pp.learning_rate},
        policy_tmax=pp.tmax,
        overrides=overrides,
        behaviour_steps=steps["behaviour"],
        critic_steps=steps["critic"],
    )
    announce(config_name, data, steps, beta)
    if a.dry_run:
        return

    # 1. behaviour model, SRPOAlgorithm.train's first phase
    diffusion = policy.sro.diffusion_model
    behaviour = adam_phase(
        "behaviour",
        steps["behaviour"],
        diffusion.model.parameters(),
        bp.learning_rate,
        data,
        bp.batch_size,
        lambda i: policy.behaviour_policy_loss(act[i], s[i]),
    )

    # 2. critic
    critic = config_critic_phase(policy.critic, data, steps["critic"], cp)

    # 3. policy: the actor against the frozen behaviour model's score and the target Q
    p_opt = torch.optim.Adam(policy.policy.parameters(), lr=pp.learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(p_opt, T_max=pp.tmax, eta_min=0.0)
    batches = epoch_batches(data.n, pp.batch_size)

    def policy_update(_: int) -> dict[str, float]:
        i = next(batches)
        diffusion.model.eval()
        loss, q = policy.srpo_actor_loss(s[i])
        loss = loss.sum(-1).mean()
        p_opt.zero_grad(set_to_none=True)
        loss.backward()
        p_opt.step()
        schedule.step()
        return {"loss": loss.item(), "q": q.item()}

    act_fn = act_fn_of(policy, a.clip_actions)
    after = log_eval.after(
        act_fn, steps["policy"], a.eval_every, [behaviour, critic], a.clip_actions
    )
    run_phase("policy", steps["policy"], policy_update, after)


def add_args(r: argparse.ArgumentParser) -> None:
    add_run_args(r)
    r.add_argument("--beta", type=float, help="the temperature (default: the config's)")
    add_steps_args(r, ("behaviour", "critic", "policy"), "iterations")


if __name__ == "__main__":
    main(__doc__ or "", add_args, run)
