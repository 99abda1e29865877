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
    from grl.algorithms.srpo import SRPOPolicy
    from grl.utils import set_seed

    data = load_data(a.data, a.env)
    config, config_name = load_peer_config("srpo", "vpsde", data, a.peer_config)
    par = config.train.parameter
    overrides = apply_overrides(par, a.set)
    bp, cp, pp = par.behaviour_policy, par.critic, par.policy
    steps = {
        "behaviour": a.behaviour_steps,
        "critic": a.critic_steps,
        "policy": a.policy_steps,
    }
    for name, section in (("behaviour", bp), ("critic", cp), ("policy", pp)):
        if steps[name] is None:
            steps[name] = updates_for(section.iterations, data.n, section.batch_size)
    model_cfg = config.train.model.SRPOPolicy
    if a.beta is not None:  # a model key: the temperature of SRPOConditionalDiffusionModel
        model_cfg.diffusion_model.beta = overrides["--beta"] = a.beta
    beta = model_cfg.diffusion_model.beta
    s, act = data.s, data.a

    set_seed(a.seed)
    policy = SRPOPolicy(model_cfg)
    log_eval = Evaluator(
        data,
        a.eval_episodes,
        a.eval_seed,
        a.out,
        {
            "peer": "GenerativeRL",
            "peer_commit": peer_commit(),
            "peer_config": config_name,
            "algo": "srpo",
            "model": "vpsde",
            "env": data.env_id,
            "dataset": data.dataset,
            "seed": a.seed,
            "beta": beta,
            "batch": {"behaviour": bp.batch_size, "critic": cp.batch_size, "policy": pp.batch_size},
            "lr": {
                "behaviour": bp.learning_rate,
                "critic": cp.learning_rate,
                "policy": pp.learning_rate,
            },
            "policy_tmax": pp.tmax,
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

    # 1. behaviour model, SRPOAlgorithm.train's first phase
    diffusion = policy.sro.diffusion_model
    b_opt = torch.optim.Adam(diffusion.model.parameters(), lr=bp.learning_rate)
    batches = epoch_batches(data.n, bp.batch_size)

    def behaviour_update(_: int) -> dict[str, float]:
        i = next(batches)
        loss = policy.behaviour_policy_loss(act[i], s[i])
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

    def act_fn(obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = policy(torch.as_tensor(obs, dtype=torch.float32))
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
    r.add_argument("--beta", type=float, help="the temperature (default: the config's)")
    for phase in ("behaviour", "critic", "policy"):
        r.add_argument(
            f"--{phase}-steps",
            type=int,
            help="updates (default: the config's iterations times the batches per epoch)",
        )


if __name__ == "__main__":
    main(__doc__ or "", add_args, run)
