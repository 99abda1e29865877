"""The Diffusion-QL authors' own agent on a D4RL-layout dataset, evaluated as genpolicy evaluates.

Two steps, two interpreters:

    # 1. with genpolicy's python: the dataset's arrays (a file, a suite name, a Minari id)
    python benchmarks/parity/peers/diffusion_ql_run.py export hopper-medium-replay-v5 hmr.npz
    # 2. with the peer's virtualenv (benchmarks/parity/peers/diffusion_ql.sh VENV) and its
    #    checkout on the path
    PYTHONPATH=DQL_SOURCE VENV/bin/python benchmarks/parity/peers/diffusion_ql_run.py run \\
        hmr.npz --seed 0 --steps 50000 --eval-every 5000 --out results.jsonl

Step 2 builds the peer's ``Diffusion_QL`` (``agents/ql_diffusion.py`` of its checkout) with
the arguments its ``main.py`` passes for the dataset's task and trains it with the agent's
own ``train``, on batches of the peer's own ``Data_Sampler`` (``utils/data_sampler.py``,
which applies the task's ``reward_tune``). The settings are read from the checkout's
``main.py`` (its ``hyperparameters`` table and its command line's defaults), not copied:

* the table's row for the dataset: ``lr``, ``eta``, ``max_q_backup``, ``reward_tune``,
  ``gn`` (the gradient-norm clip of actor and critic), ``top_k`` (its offline model
  selection), ``num_epochs`` and ``eval_freq``. Our names map to the table's keys by task
  and level, whatever the version (``hopper-medium-replay-v5`` -> ``hopper-medium-replay-v2``;
  ``--peer-key`` picks a row by hand);
* the command line's defaults: ``T`` (5 diffusion steps), ``beta_schedule`` (``vp``),
  ``discount``, ``tau``, ``batch_size``, ``num_steps_per_epoch``;
* ``lr_decay``: on, as in both commands of the peer's README (``main.py``'s flag is off by
  default; ``--set lr_decay=false`` turns it off);
* the agent's own defaults that ``main.py`` leaves alone: ``ema_decay``, ``step_start_ema``,
  ``update_ema_every``.

``--set KEY=VALUE`` changes any of them (``--dry-run`` prints them and stops).

How the peer counts: one "iteration" of its ``train`` is one batch, one critic gradient step
and one actor gradient step, so ``--steps`` (iterations) counts what genpolicy's
``train.steps`` counts. ``main.py`` trains ``num_epochs`` epochs of ``num_steps_per_epoch``
iterations (2,000 x 1,000 = 2M on the locomotion tasks, the default of ``--steps``), calling
``agent.train`` for ``eval_freq`` epochs (50,000 iterations) at a time and evaluating after
each call. With ``lr_decay`` each call of ``train`` ends with one step of the actor's and the
critic's cosine schedules, whose period ``T_max`` is ``num_epochs``; over ``main.py``'s 40
calls the learning rates thus fall to 0.999 of their start. Here ``train`` is called for
``--eval-every`` iterations at a time, and the schedules step on ``main.py``'s calendar,
once per ``eval_freq`` x ``num_steps_per_epoch`` iterations (the agent's ``lr_decay``
attribute is cleared after it built its schedules, and this script steps them), so the
evaluations' cadence does not change the training. Evaluations run on forked random number
generators, so they do not change it either.

Seeding as ``main.py``: ``torch.manual_seed`` and ``numpy.random.seed`` with ``--seed``
before the agent is built; the sampler draws its indices from torch's global generator.

The data is what ``d4rl.qlearning_dataset`` makes of the file (``main.py``'s reader):
every row but the last and those that end in a time-out, raw observations, the rewards as
``reward_tune`` leaves them (``no`` on the locomotion tasks).

Evaluation is genpolicy's (``genpolicy.envs.evaluate.evaluate``, imported from this
checkout): ``--eval-episodes`` episodes of the Gymnasium environment seeded ``eval_seed +
i``, D4RL-normalised scores, each state's action from the agent's own ``sample_action`` as
its evaluation calls it (one state at a time: 50 samples of the online diffusion actor, one
drawn with probability softmax(min of the target double Q)). ``main.py``'s model selection
(online: the best evaluation; offline: the evaluation whose mean BC loss ranks ``top_k``) is
left to the reader of the lines, which carry each evaluation's mean losses since the one
before. Prints, and appends to ``--out``, one JSON line per evaluation.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import json
import re
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from peer_common import (
    EVAL_SEED,
    ROOT,
    emit,
    eval_row,
    evaluate_aside,
    main,
    qlearning_transitions,
    read_export,
    source_commit,
)

PEER = "Diffusion-QL"
# main.py's command-line defaults that the agent's training uses
MAIN_ARGS = ("T", "beta_schedule", "discount", "tau", "batch_size", "num_steps_per_epoch")
# the agent's keyword defaults that main.py does not pass
AGENT_DEFAULTS = ("ema_decay", "step_start_ema", "update_ema_every")


# --------------------------------------------------------------------------- the peer's settings
def peer_source() -> Path:
    """The checkout the peer's ``agents`` package is imported from."""
    import agents

    return Path(agents.__file__).resolve().parents[1]


def peer_commit() -> str | None:
    """The checkout's commit (its git metadata, else ``diffusion_ql.sh``'s record in the
    virtualenv, else ``DQL_COMMIT``)."""
    return source_commit(peer_source(), "diffusion-ql-source.txt", "DQL_COMMIT")


def read_main(src: Path) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """``main.py``'s ``hyperparameters`` table and its command line's defaults (a
    ``store_true`` flag: False), read from the checkout's source without running it (it
    imports d4rl and gym)."""
    tree = ast.parse((src / "main.py").read_text())
    table: dict[str, dict[str, Any]] | None = None
    defaults: dict[str, Any] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "hyperparameters" for t in node.targets
        ):
            table = ast.literal_eval(node.value)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "add_argument"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            name = str(node.args[0].value).lstrip("-")
            kw = {k.arg: k.value for k in node.keywords}
            action = kw.get("action")
            if "default" in kw:
                defaults[name] = ast.literal_eval(kw["default"])
            elif isinstance(action, ast.Constant) and action.value == "store_true":
                defaults[name] = False
    if table is None:
        raise SystemExit(f"{src / 'main.py'} has no hyperparameters table")
    return table, defaults


def stem(name: str) -> str:
    """A dataset name without its version, lower case, '-' for '_' and '/'."""
    name = re.sub(r"[-_]v\d+$", "", name.lower())
    return re.sub(r"[_/]", "-", name)


def peer_key(dataset: str, table: dict[str, dict[str, Any]]) -> str:
    """The row of ``main.py``'s table for ``dataset``: the longest key whose name without its
    version ends the dataset's ('hopper-medium-replay-v5' -> 'hopper-medium-replay-v2',
    'mujoco/hopper/medium-v0' -> 'hopper-medium-v2')."""
    name = stem(dataset)
    hits = [k for k in table if name == stem(k) or name.endswith("-" + stem(k))]
    if not hits:
        raise SystemExit(
            f"main.py's table has no row for {dataset!r}; pass --peer-key, one of {sorted(table)}"
        )
    return max(hits, key=lambda k: len(stem(k)))


def parse_value(text: str, like: Any) -> Any:
    """``text`` as the type of ``like`` (booleans: true/false/1/0)."""
    if isinstance(like, bool):
        if text.lower() not in ("true", "false", "1", "0"):
            raise SystemExit(f"expected true or false, got {text!r}")
        return text.lower() in ("true", "1")
    if isinstance(like, int):
        return int(text)
    if isinstance(like, float):
        return float(text)
    return text


def peer_settings(a: argparse.Namespace, dataset: str) -> dict[str, Any]:
    """The run's settings: ``main.py``'s row for the dataset and its defaults, ``lr_decay``
    on, the agent's own defaults, then ``--set``."""
    from agents.ql_diffusion import Diffusion_QL

    table, defaults = read_main(peer_source())
    key = a.peer_key or peer_key(dataset, table)
    if key not in table:
        raise SystemExit(f"--peer-key {key!r} is no row of main.py's table: {sorted(table)}")
    signature = inspect.signature(Diffusion_QL.__init__).parameters
    settings: dict[str, Any] = {"peer_key": key, **table[key]}
    settings |= {k: defaults[k] for k in MAIN_ARGS}
    settings["lr_decay"] = True
    settings |= {k: signature[k].default for k in AGENT_DEFAULTS}
    for item in a.set:
        k, sep, v = item.partition("=")
        keys = sorted(k for k in settings if k != "peer_key")
        if not sep or k not in keys:
            raise SystemExit(f"--set {item!r}: expected KEY=VALUE, KEY one of {keys}")
        settings[k] = parse_value(v, settings[k])
    return settings


# --------------------------------------------------------------------------- the peer
def make_agent(s: dict[str, Any], obs_dim: int, act_dim: int, max_action: float) -> Any:
    """``Diffusion_QL`` with the arguments ``main.py`` passes it, from ``s``, on the CPU."""
    from agents.ql_diffusion import Diffusion_QL

    return Diffusion_QL(
        state_dim=obs_dim,
        action_dim=act_dim,
        max_action=max_action,
        device="cpu",
        discount=s["discount"],
        tau=s["tau"],
        max_q_backup=s["max_q_backup"],
        beta_schedule=s["beta_schedule"],
        n_timesteps=s["T"],
        eta=s["eta"],
        lr=s["lr"],
        lr_decay=s["lr_decay"],
        lr_maxt=s["num_epochs"],
        grad_norm=s["gn"],
        ema_decay=s["ema_decay"],
        step_start_ema=s["step_start_ema"],
        update_ema_every=s["update_ema_every"],
    )


def max_action_of(env_id: str) -> float:
    """``main.py``'s ``max_action``: the environment's first action bound."""
    import gymnasium

    env = gymnasium.make(env_id)
    space: Any = env.action_space
    try:
        return float(space.high[0])
    finally:
        env.close()


def run(a: argparse.Namespace) -> None:
    import torch

    if str(ROOT) not in sys.path:
        sys.path.insert(1, str(ROOT))
    from genpolicy.envs.evaluate import score_task

    try:
        from utils.data_sampler import Data_Sampler
    except ImportError as e:
        raise SystemExit(f"{e}: put the Diffusion-QL checkout on PYTHONPATH") from e
    warnings.filterwarnings("ignore", message="Implicit dimension choice for softmax")
    torch.set_num_threads(a.threads)

    raw, dataset_name, env_id = read_export(a.data, a.env_id, "--env-id")
    s = peer_settings(a, dataset_name)
    steps = a.steps if a.steps is not None else s["num_epochs"] * s["num_steps_per_epoch"]
    per_call = s["eval_freq"] * s["num_steps_per_epoch"]  # main.py's iterations per train
    eval_every = a.eval_every if a.eval_every is not None else per_call
    print(f"{PEER} ({s['peer_key']}), {steps} iterations: {json.dumps(s)}", file=sys.stderr)
    if a.dry_run:
        return

    data = qlearning_transitions(raw)
    task = score_task(env_id, dataset_name)
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    sampler = Data_Sampler(data, "cpu", s["reward_tune"])
    obs_dim, act_dim = data["observations"].shape[1], data["actions"].shape[1]
    agent = make_agent(s, obs_dim, act_dim, max_action_of(env_id))
    agent.lr_decay = False  # its schedules step on main.py's calendar below
    base = {
        "peer": PEER,
        "peer_commit": peer_commit(),
        "algo": "dql",
        "env": env_id,
        "dataset": dataset_name,
        "seed": a.seed,
        "settings": s,
    }
    print(f"{sampler.size} transitions", file=sys.stderr)

    def act_fn(obs: np.ndarray) -> np.ndarray:
        return np.stack([agent.sample_action(o) for o in obs])

    def log_eval(step: int, train_s: float, metric: dict[str, list[float]]) -> None:
        res = evaluate_aside(act_fn, env_id, a.eval_episodes, a.eval_seed, task)
        row = eval_row(
            base,
            step,
            res,
            train_s=round(train_s, 2),
            updates_per_s=round(step / train_s, 3) if train_s > 0 else None,
            actor_lr=agent.actor_optimizer.param_groups[0]["lr"],
            losses={k: float(np.mean(v)) for k, v in metric.items() if v},
        )
        emit(row, a.out)

    step, train_s = 0, 0.0
    metric: dict[str, list[float]] = {}
    while step < steps:
        stops = [steps, (step // per_call + 1) * per_call]
        if eval_every:
            stops.append((step // eval_every + 1) * eval_every)
        stop = min(stops)
        t0 = time.perf_counter()
        out = agent.train(sampler, iterations=stop - step, batch_size=s["batch_size"])
        step = stop
        if s["lr_decay"] and step % per_call == 0:  # where main.py's train call ends
            agent.actor_lr_scheduler.step()
            agent.critic_lr_scheduler.step()
        train_s += time.perf_counter() - t0
        for k, v in out.items():
            metric.setdefault(k, []).extend(v)
        if step == steps or (eval_every and step % eval_every == 0):
            log_eval(step, train_s, metric)
            metric = {}


def add_args(r: argparse.ArgumentParser) -> None:
    r.add_argument("data", help="the .npz of the export step")
    r.add_argument("--env-id", "--env", help="Gymnasium id (default: the dataset's)")
    r.add_argument(
        "--peer-key", help="the row of main.py's table (default: the dataset's task and level)"
    )
    r.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change a setting (e.g. eta=0.5, lr_decay=false, T=10)",
    )
    r.add_argument(
        "--steps",
        type=int,
        help="iterations (default: main.py's num_epochs x num_steps_per_epoch)",
    )
    r.add_argument("--seed", type=int, default=0)
    r.add_argument(
        "--eval-every",
        type=int,
        help="iterations (default: main.py's eval_freq x num_steps_per_epoch); 0: at the end",
    )
    r.add_argument("--eval-episodes", type=int, default=10)
    r.add_argument("--eval-seed", type=int, default=EVAL_SEED)
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--out", help="append the JSON lines to this file")
    r.add_argument("--dry-run", action="store_true", help="print the settings and stop")


if __name__ == "__main__":
    main(
        __doc__ or "",
        "train and evaluate the peer's Diffusion_QL (needs its checkout)",
        add_args,
        run,
    )
