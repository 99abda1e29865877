"""FQL's authors' own ``FQLAgent`` on a D4RL-layout dataset, evaluated as genpolicy evaluates.

Two steps, two interpreters:

    # 1. with genpolicy's python: the dataset's arrays (a file, a suite name, a Minari id)
    python benchmarks/parity/peers/fql_run.py export hopper-medium-replay-v5 hmr.npz
    # 2. with the peer's virtualenv (benchmarks/parity/peers/fql.sh VENV) and its checkout
    PYTHONPATH=FQL_SOURCE VENV/bin/python benchmarks/parity/peers/fql_run.py run hmr.npz \\
        --seed 0 --steps 50000 --eval-every 5000 --eval-episodes 10 --out results.jsonl

Step 2 imports ``agents.fql`` (``FQLAgent``, ``get_config``) and ``utils.datasets`` from the
checkout (seohongpark/fql, JAX and flax) and trains as the offline part of its ``main.py``
does: ``random`` and numpy seeded with ``--seed``, the data in its ``ReplayBuffer``, the
agent created from one sampled row with ``FQLAgent.create(seed, ...)``, then ``--steps``
times ``agent.update(buffer.sample(batch_size))``. Left out: wandb, its CSV logs,
checkpoints, its online phase and its environments (``d4rl``, ``ogbench``).

Settings: ``get_config()`` of ``agents/fql.py`` (Adam 3e-4 over every network, batch 256,
actor flows and critic 4 x 512 GELU MLPs, layer norm on the critic only, two Q members, γ
0.99, Polyak 0.005, target Q the mean of the two members, alpha 10, 10 Euler steps of the BC
flow, no Q-loss normalisation), plus the flags the peer's README gives for the dataset
(``README_FLAGS``: D4RL antmaze and adroit; alpha and ``q_agg``). The README and the paper
give none for D4RL locomotion (hopper, halfcheetah, walker2d), so those run on
``get_config()`` as it is. ``--set KEY=VALUE`` changes any key of the config after that
(``--set alpha=3 --set normalize_q_loss=true``). The README's D4RL commands train 500k
updates; ``--steps`` sets the budget here.

The data is what the peer's D4RL loader (``envs/d4rl_utils.get_dataset`` and
``envs/env_utils.make_env_and_datasets``) makes of a D4RL file, built from the exported
arrays without ``d4rl``: the rows ``d4rl.qlearning_dataset`` keeps (the last row and every
time-out row left out; s' from the file's ``next_observations``), raw observations, raw
rewards (antmaze: r - 1), ``masks`` = 1 - terminal (the TD target's bootstrap), episode
ends where a row is terminal or the next row does not start at its s' (antmaze: only the
latter), and actions clipped to ±(1 - 1e-5). No observation normalisation and no reward
scale: the peer has neither on D4RL.

Evaluation is genpolicy's (``genpolicy.envs.evaluate.evaluate``, imported from this
checkout: it needs numpy, Gymnasium and torch, which ``fql.sh`` installs):
``--eval-episodes`` episodes of the Gymnasium environment seeded ``eval_seed + i``,
D4RL-normalised scores, the policy acting with the peer's ``sample_actions`` as its
``utils/evaluation.evaluate`` calls it: the one-step policy at one noise draw z ~ N(0, I)
per state (its ``temperature`` argument is unused, so its evaluation samples too), keys
split from one key per evaluation (its ``supply_rng``, the key drawn from numpy's global
generator as its evaluation draws it), actions clipped to [-1, 1]. numpy's generator is
restored after each evaluation, so evaluating does not change the batches drawn. Prints, and
appends to ``--out``, one JSON line per evaluation, with the training time (evaluations
excluded), the first update's time (``first_update_s``: JAX compiles the update then) and
``updates_per_s`` over the updates after it. ``--threads 1`` (the default) puts XLA's CPU
kernels on one thread.
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
from peer_common import (
    EVAL_SEED,
    ROOT,
    emit,
    eval_row,
    main,
    parse_value,
    qlearning_transitions,
    read_export,
    run_jax_updates,
    single_thread_xla,
    source_commit,
)

ACTION_CLIP_EPS = 1e-5  # make_env_and_datasets' action_clip_eps
LOSS_KEYS = (
    "critic/critic_loss",
    "critic/q_mean",
    "actor/actor_loss",
    "actor/bc_flow_loss",
    "actor/distill_loss",
    "actor/q_loss",
    "actor/mse",
)
# the peer's README, "FQL on D4RL" (offline): its flags per dataset, by name without version
_ANTMAZE = {"alpha": 10.0}
_ANTMAZE_LARGE = {"alpha": 3.0}
README_FLAGS: dict[str, dict[str, Any]] = {
    "antmaze-umaze": _ANTMAZE,
    "antmaze-umaze-diverse": _ANTMAZE,
    "antmaze-medium-play": _ANTMAZE,
    "antmaze-medium-diverse": _ANTMAZE,
    "antmaze-large-play": _ANTMAZE_LARGE,
    "antmaze-large-diverse": _ANTMAZE_LARGE,
    "pen-human": {"q_agg": "min", "alpha": 10000.0},
    "pen-cloned": {"q_agg": "min", "alpha": 10000.0},
    "pen-expert": {"q_agg": "min", "alpha": 3000.0},
    "door-human": {"q_agg": "min", "alpha": 30000.0},
    "door-cloned": {"q_agg": "min", "alpha": 30000.0},
    "door-expert": {"q_agg": "min", "alpha": 30000.0},
    "hammer-human": {"q_agg": "min", "alpha": 30000.0},
    "hammer-cloned": {"q_agg": "min", "alpha": 10000.0},
    "hammer-expert": {"q_agg": "min", "alpha": 30000.0},
    "relocate-human": {"q_agg": "min", "alpha": 10000.0},
    "relocate-cloned": {"q_agg": "min", "alpha": 30000.0},
    "relocate-expert": {"q_agg": "min", "alpha": 30000.0},
}


# --------------------------------------------------------------------------- data
def is_antmaze(dataset: str) -> bool:
    """Whether the peer's loader treats the dataset as D4RL AntMaze (its test: the name)."""
    return "antmaze" in dataset.lower()


def peer_arrays(raw: dict[str, np.ndarray], antmaze: bool) -> dict[str, np.ndarray]:
    """The fields of the peer's D4RL ``Dataset`` (module docstring) from D4RL arrays."""
    d = qlearning_transitions(raw)
    obs, nxt, term = d["observations"], d["next_observations"], d["terminals"]
    n = len(obs)
    ends = np.zeros(n, dtype=np.float32)
    # the next row does not continue from this row's s': an episode boundary
    jump = np.linalg.norm(obs[1:] - nxt[:-1], axis=1) > 1e-6
    ends[:-1] = jump if antmaze else jump | (term[:-1] == 1.0)
    ends[-1] = 1.0
    rewards = d["rewards"] - 1.0 if antmaze else d["rewards"]
    actions = np.clip(d["actions"], -1 + ACTION_CLIP_EPS, 1 - ACTION_CLIP_EPS)
    return {
        "observations": obs,
        "actions": actions.astype(np.float32),
        "next_observations": nxt,
        "terminals": ends,
        "rewards": rewards.astype(np.float32),
        "masks": (1.0 - term).astype(np.float32),
    }


# --------------------------------------------------------------------------- the peer
def readme_flags(dataset: str) -> dict[str, Any]:
    """The peer README's flags for ``dataset`` (its name less a ``-vN`` suffix); {} if none."""
    stem = re.sub(r"-v\d+$", "", Path(dataset).name.lower())
    return dict(README_FLAGS.get(stem, {}))


def make_config(dataset: str, items: list[str]) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """``get_config()`` with the README's flags for ``dataset`` and then ``items``
    (KEY=VALUE) applied; returns the config, the flags and the overrides."""
    from agents.fql import get_config

    config = get_config()
    flags = readme_flags(dataset)
    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in config:
            known = ", ".join(sorted(config.keys()))
            raise SystemExit(f"--set {item!r}: expected KEY=VALUE with KEY one of {known}")
        overrides[key] = parse_value(value)
    for key, value in {**flags, **overrides}.items():
        config[key] = value
    return config, flags, overrides


def settings_of(config: Any) -> dict[str, Any]:
    """The config's keys as JSON values (``ob_dims`` and ``action_dim`` are the data's)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        out[key] = list(value) if isinstance(value, tuple) else value
    return out


def peer_commit() -> str | None:
    """The commit of the FQL checkout ``agents`` is imported from (``source_commit``:
    its git metadata, else ``fql.sh``'s record in the virtualenv, else ``FQL_COMMIT``)."""
    import agents

    src = Path(agents.__file__).resolve().parents[1]
    return source_commit(src, "fql-source.txt", "FQL_COMMIT")


def run(a: argparse.Namespace) -> None:
    if a.threads == 1:
        single_thread_xla()
    import jax
    from agents.fql import FQLAgent
    from utils.datasets import Dataset, ReplayBuffer
    from utils.evaluation import supply_rng

    sys.path.insert(0, str(ROOT))
    from genpolicy.envs.evaluate import evaluate, score_task

    if a.eval_every and a.steps % a.eval_every:
        raise SystemExit(f"--steps {a.steps} is no multiple of --eval-every {a.eval_every}")
    raw, dataset_name, env_id = read_export(a.data, a.env_id, "--env-id")
    task = score_task(env_id, dataset_name)
    antmaze = is_antmaze(dataset_name)
    config, flags, overrides = make_config(dataset_name, a.set or [])

    # main.py's offline start: seeds, then the dataset as its replay buffer (its 2M-row
    # buffer only makes room for online rows: the draws are the same over these rows)
    random.seed(a.seed)
    np.random.seed(a.seed)
    data = Dataset.create(**peer_arrays(raw, antmaze))
    buffer = ReplayBuffer.create_from_initial_dataset(dict(data), size=data.size + 1)
    example = buffer.sample(1)
    agent = FQLAgent.create(a.seed, example["observations"], example["actions"], config)

    settings = settings_of(agent.config)
    base = {
        "peer": "FQL",
        "peer_commit": peer_commit(),
        "algo": "fql",
        "env": env_id,
        "dataset": dataset_name,
        "seed": a.seed,
        "settings": settings,
        "readme_flags": flags,
        "overrides": overrides,
        "data": {
            "transitions": int(data.size),
            "observations": "raw",
            "rewards": "raw - 1" if antmaze else "raw",
            "action_clip": 1 - ACTION_CLIP_EPS,
        },
        "jax": jax.__version__,
    }
    print(
        f"{data.size} transitions, {int(data['terminals'].sum())} episodes; {json.dumps(settings)}",
        file=sys.stderr,
    )

    def log_eval(
        agent: Any, step: int, train_s: float, first_s: float, info: dict[str, Any]
    ) -> None:
        np_state = np.random.get_state()
        key = jax.random.PRNGKey(np.random.randint(0, 2**32))
        actor_fn = supply_rng(agent.sample_actions, rng=key)

        def act_fn(obs: np.ndarray) -> np.ndarray:
            action = np.asarray(actor_fn(observations=obs.astype(np.float32), temperature=0))
            return np.clip(action, -1, 1)

        res = evaluate(act_fn, env_id, a.eval_episodes, a.eval_seed, task)
        np.random.set_state(np_state)
        rest = train_s - first_s
        row = eval_row(
            base,
            step,
            res,
            train_s=round(train_s, 2),
            first_update_s=round(first_s, 2),
            updates_per_s=round((step - 1) / rest, 3) if step > 1 and rest > 0 else None,
            losses={k: float(info[k]) for k in LOSS_KEYS if k in info},
        )
        emit(row, a.out)

    sample = functools.partial(buffer.sample, config["batch_size"])
    run_jax_updates(agent, sample, a.steps, a.eval_every or a.steps, log_eval)


def add_args(r: argparse.ArgumentParser) -> None:
    r.add_argument("data", help="the .npz of the export step")
    r.add_argument("--env-id", "--env", help="Gymnasium id (default: the dataset's)")
    r.add_argument("--steps", type=int, default=50_000, help="updates")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--eval-every", type=int, default=5000, help="updates; 0: at the end")
    r.add_argument("--eval-episodes", type=int, default=10)
    r.add_argument("--eval-seed", type=int, default=EVAL_SEED)
    r.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="change a key of the peer's get_config() (repeatable), after the README's flags",
    )
    r.add_argument(
        "--threads",
        type=int,
        default=1,
        help="1: XLA's CPU kernels on one thread (XLA_FLAGS); other values leave XLA as it is",
    )
    r.add_argument("--out", help="append the JSON lines to this file")


if __name__ == "__main__":
    main(__doc__ or "", "train and evaluate FQL's FQLAgent (needs its checkout)", add_args, run)
