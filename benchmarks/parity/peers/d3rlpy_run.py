"""d3rlpy's own IQL and BC on a D4RL-layout dataset, evaluated as genpolicy evaluates.

Two steps, two interpreters:

    # 1. with genpolicy's python: the dataset's arrays (a file, a suite name, a Minari id)
    python benchmarks/parity/peers/d3rlpy_run.py export hopper-medium-v5 hopper-medium.npz
    # 2. with the peer's virtualenv (benchmarks/parity/peers/d3rlpy.sh VENV)
    VENV/bin/python benchmarks/parity/peers/d3rlpy_run.py run hopper-medium.npz \\
        --algo iql --seed 0 --out results.jsonl

Step 2 builds d3rlpy's ``IQLConfig`` or ``BCConfig`` and trains it with d3rlpy's own
``fitter`` (its sampler, update step and schedules), ``--eval-every`` updates per epoch,
without its log files (``NoopAdapterFactory``) or progress bar; its console log goes to
stderr at warning level.

* ``iql``: the settings of d3rlpy's D4RL locomotion script
  (``reproductions/offline/iql.py`` in its repository): ``IQLConfig``'s defaults (actor
  and critic lr 3e-4, batch 256, expectile 0.7, ``weight_temp`` 3, ``max_weight`` 100,
  gamma 0.99, tau 0.005, two Q functions, 256-256 ReLU encoders) with the actor's Adam on
  a cosine schedule over the whole run (``CosineAnnealingLRFactory(T_max=--steps)``; the
  script sets ``T_max`` to its ``n_steps``) and ``ReturnBasedRewardScaler(multiplier=1000)``,
  the IQL paper's locomotion reward scale. The script sets no observation scaler;
  ``--obs-scaler standard`` adds d3rlpy's ``StandardObservationScaler``.
* ``bc``: ``BCConfig``'s defaults (deterministic policy, lr 1e-3, batch 100, no scalers);
  d3rlpy ships no D4RL script for BC.

The data is what d3rlpy's ``get_d4rl`` makes of a D4RL file: an ``MDPDataset`` of the raw
arrays, whose episodes end at terminals and time-outs; within an episode s' is the next
row, and the last row of an episode cut by a time-out has no s' and is left out, as
``d4rl.qlearning_dataset`` leaves it out (a row flagged both terminal and time-out counts
as terminal, and an unfinished last episode ends in a time-out on its last row).

Evaluation is genpolicy's (``genpolicy.envs.evaluate.evaluate``, imported from this
checkout: it needs numpy, Gymnasium and torch, which the peer brings): ``--eval-episodes``
episodes of the Gymnasium environment seeded ``eval_seed + i``, D4RL-normalised scores, the
policy acting with d3rlpy's ``predict`` (the deterministic action, tanh of the mean, through
the observation scaler). Prints, and appends to ``--out``, one JSON line per evaluation.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from typing import Any

import numpy as np
from peer_common import EVAL_SEED, ROOT, emit, eval_row, evaluate_aside, main, read_export


# --------------------------------------------------------------------------- data
def episode_flags(d: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(terminals, timeouts) as float32 for d3rlpy's ``MDPDataset``: a row flagged both is
    terminal, and the last row ends an episode (a time-out if it is not terminal), so that
    no unfinished episode is dropped whole."""
    terminals = d["terminals"].reshape(-1).astype(bool)
    timeouts = (
        d["timeouts"].reshape(-1).astype(bool) if "timeouts" in d else np.zeros_like(terminals)
    )
    timeouts = timeouts & ~terminals
    if len(terminals) and not (terminals[-1] or timeouts[-1]):
        timeouts = timeouts.copy()
        timeouts[-1] = True
    return terminals.astype(np.float32), timeouts.astype(np.float32)


# --------------------------------------------------------------------------- the peer
def make_algo(a: argparse.Namespace) -> Any:
    """d3rlpy's config for ``a.algo``, created on the CPU."""
    import d3rlpy

    obs_scaler = (
        d3rlpy.preprocessing.StandardObservationScaler() if a.obs_scaler == "standard" else None
    )
    if a.algo == "iql":
        cfg = d3rlpy.algos.IQLConfig(
            actor_learning_rate=3e-4,
            critic_learning_rate=3e-4,
            actor_optim_factory=d3rlpy.optimizers.AdamFactory(
                lr_scheduler_factory=d3rlpy.optimizers.CosineAnnealingLRFactory(T_max=a.steps)
            ),
            batch_size=a.batch or 256,
            weight_temp=3.0,
            max_weight=100.0,
            expectile=0.7,
            reward_scaler=d3rlpy.preprocessing.ReturnBasedRewardScaler(multiplier=1000.0),
            observation_scaler=obs_scaler,
        )
    else:
        defaults = d3rlpy.algos.BCConfig()
        cfg = d3rlpy.algos.BCConfig(
            batch_size=a.batch or defaults.batch_size,
            learning_rate=defaults.learning_rate,
            policy_type="deterministic",
            observation_scaler=obs_scaler,
        )
    return cfg.create(device="cpu:0")


def settings_of(algo: Any) -> dict[str, Any]:
    """The run's d3rlpy settings, read back from its config."""
    c = algo.config
    obs = type(c.observation_scaler).__name__ if c.observation_scaler else None
    out: dict[str, Any] = {"batch": c.batch_size, "obs_scaler": obs}
    if hasattr(c, "expectile"):
        sched = c.actor_optim_factory.lr_scheduler_factory
        rew = c.reward_scaler
        out |= {
            "actor_lr": c.actor_learning_rate,
            "critic_lr": c.critic_learning_rate,
            "actor_lr_schedule": type(sched).__name__ if sched else None,
            "actor_lr_t_max": getattr(sched, "T_max", None),
            "expectile": c.expectile,
            "weight_temp": c.weight_temp,
            "max_weight": c.max_weight,
            "gamma": c.gamma,
            "tau": c.tau,
            "n_critics": c.n_critics,
            "reward_scaler": type(rew).__name__ if rew else None,
            "reward_multiplier": getattr(rew, "multiplier", None),
        }
    else:
        out |= {"lr": c.learning_rate, "policy_type": c.policy_type}
    return out


def quiet_d3rlpy_log() -> None:
    """d3rlpy's structlog console log to stderr, warnings and above only (stdout carries
    the JSON lines)."""
    import structlog

    structlog.configure(
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
    )


def run(a: argparse.Namespace) -> None:
    import d3rlpy
    import torch
    from d3rlpy.logging import NoopAdapterFactory

    sys.path.insert(0, str(ROOT))
    from genpolicy.envs.evaluate import score_task

    quiet_d3rlpy_log()
    torch.set_num_threads(a.threads)
    if a.eval_every and a.steps % a.eval_every:
        raise SystemExit(f"--steps {a.steps} is no multiple of --eval-every {a.eval_every}")
    raw, dataset_name, env_id = read_export(a.data, a.env_id, "--env-id")
    task = score_task(env_id, dataset_name)

    terminals, timeouts = episode_flags(raw)
    dataset = d3rlpy.dataset.MDPDataset(
        observations=raw["observations"].astype(np.float32),
        actions=raw["actions"].astype(np.float32),
        rewards=raw["rewards"].astype(np.float32).reshape(-1, 1),
        terminals=terminals,
        timeouts=timeouts,
        action_space=d3rlpy.ActionSpace.CONTINUOUS,
    )
    d3rlpy.seed(a.seed)  # random, numpy (d3rlpy's sampler) and torch
    algo = make_algo(a)
    # fit the scalers as d3rlpy's fitter does (it skips built ones), outside the timing
    for scaler in (algo.observation_scaler, algo.reward_scaler):
        if scaler is not None and not scaler.built:
            scaler.fit_with_transition_picker(dataset.episodes, dataset.transition_picker)
    settings = settings_of(algo)
    base = {
        "peer": "d3rlpy",
        "peer_version": d3rlpy.__version__,
        "algo": a.algo,
        "env": env_id,
        "dataset": dataset_name,
        "seed": a.seed,
        "settings": settings,
    }
    print(
        f"{dataset.transition_count} transitions in {len(dataset.episodes)} episodes; "
        f"{json.dumps(settings)}",
        file=sys.stderr,
    )

    def act_fn(obs: np.ndarray) -> np.ndarray:
        return np.asarray(algo.predict(obs.astype(np.float32)))

    def log_eval(step: int, train_s: float, metrics: dict[str, float]) -> None:
        res = evaluate_aside(act_fn, env_id, a.eval_episodes, a.eval_seed, task)
        row = eval_row(
            base,
            step,
            res,
            train_s=round(train_s, 2),
            updates_per_s=round(step / train_s, 3) if train_s > 0 else None,
            losses={k: v for k, v in metrics.items() if not k.startswith("time_")},
        )
        emit(row, a.out)

    per_epoch = a.eval_every or a.steps
    fitter = algo.fitter(
        dataset,
        n_steps=a.steps,
        n_steps_per_epoch=per_epoch,
        experiment_name=f"{a.algo}_{dataset_name}_{a.seed}",
        with_timestamp=False,
        logger_adapter=NoopAdapterFactory(),
        show_progress=False,
        save_interval=a.steps + 1,
    )
    train_s = 0.0
    while True:
        t0 = time.perf_counter()
        try:
            epoch, metrics = next(fitter)
        except StopIteration:
            break
        train_s += time.perf_counter() - t0
        log_eval(epoch * per_epoch, train_s, metrics)


def add_args(r: argparse.ArgumentParser) -> None:
    r.add_argument("data", help="the .npz of the export step")
    r.add_argument("--algo", choices=("iql", "bc"), required=True)
    r.add_argument("--env-id", "--env", help="Gymnasium id (default: the dataset's)")
    r.add_argument("--steps", type=int, default=50_000, help="updates")
    r.add_argument("--batch", type=int, help="default: d3rlpy's (IQL 256, BC 100)")
    r.add_argument(
        "--obs-scaler",
        choices=("none", "standard"),
        default="none",
        help="d3rlpy's StandardObservationScaler or none (the default, as d3rlpy's script)",
    )
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--eval-every", type=int, default=5000, help="updates; 0: at the end")
    r.add_argument("--eval-episodes", type=int, default=10)
    r.add_argument("--eval-seed", type=int, default=EVAL_SEED)
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--out", help="append the JSON lines to this file")


if __name__ == "__main__":
    main(__doc__ or "", "train and evaluate d3rlpy's IQL or BC (needs d3rlpy)", add_args, run)
