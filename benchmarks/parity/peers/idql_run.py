"""IDQL's authors' ``DDPMIQLLearner`` on a D4RL-layout dataset, evaluated as genpolicy evaluates.

Two steps, two interpreters:

    # 1. with genpolicy's python: the dataset's arrays (a file, a suite name, a Minari id)
    python benchmarks/parity/peers/idql_run.py export hopper-medium-replay-v5 hmr.npz
    # 2. with the peer's virtualenv (benchmarks/parity/peers/idql.sh VENV) and its checkout
    PYTHONPATH=IDQL_SOURCE VENV/bin/python benchmarks/parity/peers/idql_run.py run hmr.npz \\
        --seed 0 --steps 50000 --eval-every 5000 --eval-episodes 10 --out results.jsonl

Step 2 imports ``jaxrl5`` from the checkout (philippe-eecs/IDQL, JAX and flax): its
``DDPMIQLLearner`` (``jaxrl5.agents``, which exports the one of
``jaxrl5/agents/ddpm_iql_simple``) and its ``Dataset`` (``jaxrl5/data/dataset.py``), and
trains as the offline part of the README's script, ``launcher/examples/
train_ddpm_iql_offline.py`` handing one variant to ``examples/states/
train_diffusion_offline.py``'s ``call_main``. The settings are read from those two files in
the checkout, not copied:

* the launcher's ``constant_parameters``: its ``rl_config`` (the learner's arguments: actor,
  critic and value lr 3e-4, T 5 with the ``vp`` beta schedule, N 64, M 0, dropout 0.1 and
  layer norm in the actor's 3 residual blocks, layer norm on the value network's input,
  ``actor_tau`` 0.001, the actor's cosine decay over ``decay_steps`` 3M updates), the batch
  (512), the run's length (``max_steps``), ``eval_interval`` (250k), ``normalize_returns``
  and the ``training_time_inference_params``; its ``inference_sweep_parameters`` (the N
  of each evaluation: 16, 64, 256); its expectile (``critic_hyperparam``: 0.9 on AntMaze,
  0.7 elsewhere); its ``variant['rl_config'][KEY] = variant[KEY]`` copies where the variant
  has the key (it has neither ``T`` nor ``beta_schedule``, so the launcher stops there with
  a ``KeyError``; ``rl_config``'s own ``T`` and ``beta_schedule`` stay, and the row's
  ``launcher_unset`` names the keys);
* ``call_main``'s fraction of training rows (``ds.split(0.95)``);
* the learner's own defaults for what ``rl_config`` leaves out (``DDPMIQLLearner.create``:
  critic 256-256, two Q members, γ 0.99, Polyak 0.005, ``time_dim`` 128, ``clip_sampler``).

``--set KEY=VALUE`` changes any argument of ``DDPMIQLLearner.create`` or ``batch_size``
(``--set decay_steps=50000`` puts the actor's whole cosine decay into a 50k-update run;
``--dry-run`` prints the settings and stops). ``--steps`` defaults to the launcher's
``max_steps`` less one (3M: its loop runs ``max_steps`` updates), ``--eval-every`` to its
``eval_interval``.

How ``call_main`` trains, and so this script: the dataset in the peer's ``Dataset``; rewards
times 1000 / (max - min episode return) on hopper, halfcheetah and walker2d
(``normalize_returns``), r - 1 on AntMaze (the dataset's name decides, as the launcher's
environment name does there); then the split into 95% training and 5% validation rows (the
peer shuffles with an unseeded generator; here the ``Dataset``'s own ``seed(--seed)`` seeds
it); then batches of the training rows from its ``sample_jax`` (uniform with replacement,
from a JAX key of 42 whatever the seed, as the training part of the split is never seeded;
one batch drawn and dropped before the loop, as there), and ``agent.update(batch)`` per
update: one step of the diffusion actor (noise prediction at a step t uniform in 0..T-1,
summed over action dimensions, AdamW), of the value network (expectile of the target Q's
min) and of the Q networks (r + γ mask V(s')), with the Polyak updates of the target critic
and the target actor. ``--seed`` is the learner's seed (its network initialisation and its
JAX key; the launcher's own seeds come from an unseeded ``np.random.randint``). Left out:
wandb, the video wrapper, the validation losses it logs every 1,000 updates (an update on a
validation batch whose result it discards), its online phase and d4rl.

The data is what the peer's ``D4RLDataset`` makes of a D4RL file, built from the exported
arrays without ``d4rl``: ``d4rl.qlearning_dataset``'s rows (the last row and the time-out
rows left out), s' from the file's ``next_observations``, raw observations, actions clipped
to ±(1 - 1e-5), ``masks`` = 1 - terminal, and ``dones`` (the episode ends of the return
normalisation) where a row is terminal or the next row does not start at its s'.

Evaluation is genpolicy's (``peer_common.evaluate_aside``: ``genpolicy.envs.evaluate``,
imported from this checkout; it needs numpy, Gymnasium and torch, which ``idql.sh``
installs): ``--eval-episodes`` episodes of the Gymnasium environment seeded ``eval_seed +
i``, D4RL-normalised scores. The policy acts with the peer's ``eval_actions``, called state
by state as its ``jaxrl5.evaluation.evaluate`` calls it: N samples of the 5-step DDPM chain of
the target actor (each step's x clipped to [-1, 1]), the one with the highest min of the
target double Q. Each evaluation runs once per inference setting of the launcher (N 16, 64,
256; ``--eval-n`` sets the Ns), each from the training agent's JAX key at that point, as the
peer's evaluations do, so evaluating does not change the training. The peer's environments
take actions in [-1, 1] (its ``RescaleAction``); the script stops on an environment whose
action bounds are others. Prints, and appends to ``--out``, one JSON line per evaluation and
N, with the training time (evaluations excluded), the first update's time
(``first_update_s``: JAX compiles the update then) and ``updates_per_s`` over the updates
after it. ``--threads 1`` (the default) puts XLA's CPU kernels on one thread.
"""

from __future__ import annotations

import argparse
import ast
import functools
import inspect
import json
import re
import sys
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
    parse_value,
    qlearning_transitions,
    read_export,
    run_jax_updates,
    single_thread_xla,
    source_commit,
)

PEER = "IDQL"
LAUNCHER = "launcher/examples/train_ddpm_iql_offline.py"
CALL_MAIN = "examples/states/train_diffusion_offline.py"
ACTION_CLIP_EPS = 1e-5  # D4RLDataset's eps
LOCOMOTION = ("halfcheetah", "walker2d", "hopper")  # call_main's normalize_returns tasks
TRAIN_KEYS = ("batch_size",)  # launcher keys --set may change besides the learner's
NOT_SETTINGS = ("cls", "seed", "observation_space", "action_space")


# --------------------------------------------------------------------------- the peer's settings
def peer_source() -> Path:
    """The checkout the peer's ``jaxrl5`` package is imported from."""
    import jaxrl5

    return Path(jaxrl5.__file__).resolve().parents[1]


def peer_commit() -> str | None:
    """The checkout's commit (its git metadata, else ``idql.sh``'s record in the virtualenv,
    else ``IDQL_COMMIT``)."""
    return source_commit(peer_source(), "idql-source.txt", "IDQL_COMMIT")


_CALLS: dict[str, Any] = {"list": list, "range": range, "int": int, "float": float}


def value_of(node: ast.expr) -> Any:
    """A launcher expression's value: literals, and calls of ``dict`` (keywords), ``list``,
    ``range``, ``int`` and ``float`` on them, what its parameter dictionaries are written
    with."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        name = node.func.id
        args = [value_of(a) for a in node.args]
        if name == "dict" and not args and all(k.arg for k in node.keywords):
            return {str(k.arg): value_of(k.value) for k in node.keywords}
        if name in _CALLS and not node.keywords:
            return _CALLS[name](*args)
        raise ValueError(f"unexpected call {ast.unparse(node)}")
    if isinstance(node, ast.List):
        return [value_of(e) for e in node.elts]
    if isinstance(node, ast.Dict):
        return {value_of(k): value_of(v) for k, v in zip(node.keys, node.values, strict=True) if k}
    return ast.literal_eval(node)


def subscript_key(node: ast.expr) -> Any:
    """``K`` of ``x[K]`` (a constant), else None."""
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        return node.slice.value
    return None


def read_launcher(src: Path) -> dict[str, Any]:
    """What the launcher sets, read from the checkout's source without running it (it
    imports wandb, gym and d4rl through ``call_main``): its parameter dictionaries, the
    expectile on AntMaze and elsewhere, and its ``rl_config`` copies from the variant."""
    path = src / LAUNCHER
    tree = ast.parse(path.read_text())
    dicts: dict[str, Any] = {}
    expectile: dict[bool, float] = {}
    copies: list[tuple[str, str]] = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id.endswith("parameters")
        ):
            dicts[node.targets[0].id] = value_of(node.value)
        elif (
            isinstance(node, ast.If)
            and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Constant)
            and node.test.left.value == "antmaze"
        ):
            for antmaze, body in ((True, node.body), (False, node.orelse)):
                for stmt in body:
                    if (
                        isinstance(stmt, ast.Assign)
                        and subscript_key(stmt.targets[0]) == "critic_hyperparam"
                    ):
                        expectile[antmaze] = float(value_of(stmt.value))
        elif (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Subscript)
            and subscript_key(node.targets[0].value) == "rl_config"
            and subscript_key(node.value) is not None
        ):
            copies.append((str(subscript_key(node.targets[0])), str(subscript_key(node.value))))
    need = ("constant_parameters", "sweep_parameters", "inference_sweep_parameters")
    missing = [k for k in need if k not in dicts] + [
        f"the expectile ({'AntMaze' if k else 'elsewhere'})"
        for k in (True, False)
        if k not in expectile
    ]
    if missing:
        raise SystemExit(f"{path}: found no {', '.join(missing)}")
    return {**dicts, "expectile": expectile, "copies": copies}


def read_split(src: Path) -> float:
    """``call_main``'s fraction of training rows (its ``ds.split(RATIO)``)."""
    path = src / CALL_MAIN
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "split"
            and len(node.args) == 1
        ):
            ratio = node.args[0]
            if isinstance(ratio, ast.Constant) and isinstance(ratio.value, float):
                return ratio.value
    raise SystemExit(f"{path} has no ds.split(RATIO)")


def inference_variants(sweep: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the launcher's inference sweep, in its ``set_hyperparameters``
    order (the first key's values vary fastest)."""
    variants: list[dict[str, Any]] = [{}]
    for key, values in sweep.items():
        variants = [{**v, key: item} for item in values for v in variants]
    return variants


def stem(name: str) -> str:
    """A dataset name without its version, lower case, '-' for '_' and '/'."""
    return re.sub(r"[_/]", "-", re.sub(r"[-_]v\d+$", "", name.lower()))


def launcher_dataset(dataset: str, names: list[str]) -> str | None:
    """The launcher's D4RL name for ``dataset`` (the longest whose name without its version
    ends the dataset's: 'hopper-medium-replay-v5' -> 'hopper-medium-replay-v2'), else None."""
    name = stem(dataset)
    hits = [k for k in names if name == stem(k) or name.endswith("-" + stem(k))]
    return max(hits, key=lambda k: len(stem(k))) if hits else None


def peer_settings(a: argparse.Namespace, dataset: str) -> dict[str, Any]:
    """The run's settings (module docstring): ``learner`` (``DDPMIQLLearner.create``'s
    arguments), ``train`` (the launcher's loop), ``inference`` (one dict per evaluation),
    ``overrides`` (``--set``), ``launcher_dataset`` and ``launcher_unset``."""
    from jaxrl5.agents import DDPMIQLLearner

    src = peer_source()
    launch = read_launcher(src)
    constant = launch["constant_parameters"]
    rl = dict(constant["rl_config"])
    model_cls = rl.pop("model_cls", None)
    if model_cls != DDPMIQLLearner.__name__:
        raise SystemExit(f"{LAUNCHER}'s model_cls is {model_cls!r}, not DDPMIQLLearner")
    antmaze = "antmaze" in dataset.lower()
    rl["critic_hyperparam"] = launch["expectile"][antmaze]
    variant_keys = set(constant) | set(launch["sweep_parameters"])
    unset: list[str] = []
    for key, source in launch["copies"]:
        if source in variant_keys:
            rl[key] = constant[source]
        else:
            unset.append(source)
    params = inspect.signature(DDPMIQLLearner.create).parameters
    learner = {k: p.default for k, p in params.items() if k not in NOT_SETTINGS}
    unknown = sorted(set(rl) - set(learner))
    if unknown:
        raise SystemExit(f"{LAUNCHER}'s rl_config has keys DDPMIQLLearner.create lacks: {unknown}")
    learner |= rl
    train = {
        "batch_size": constant["batch_size"],
        "max_steps": constant["max_steps"],
        "eval_interval": constant["eval_interval"],
        "normalize_returns": constant["normalize_returns"],
        "split": read_split(src),
    }
    overrides: dict[str, Any] = {}
    for item in a.set:
        key, sep, text = item.partition("=")
        keys = sorted([*learner, *TRAIN_KEYS])
        if not sep or key not in keys:
            raise SystemExit(f"--set {item!r}: expected KEY=VALUE, KEY one of {keys}")
        overrides[key] = parse_value(text)
        (train if key in TRAIN_KEYS else learner)[key] = overrides[key]
    at_training = constant["training_time_inference_params"]
    if a.eval_n:
        inference = [{**at_training, "N": n} for n in a.eval_n]
    else:
        inference = inference_variants(launch["inference_sweep_parameters"])
    return {
        "launcher": LAUNCHER,
        "launcher_dataset": launcher_dataset(dataset, launch["sweep_parameters"]["env_name"]),
        "launcher_unset": unset,
        "learner": learner,
        "train": train,
        "inference": inference,
        "overrides": overrides,
    }


def jsonable(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` with tuples as lists (JSON)."""
    return json.loads(json.dumps(settings, default=list))


# --------------------------------------------------------------------------- data
def is_antmaze(dataset: str) -> bool:
    """Whether ``call_main`` treats the dataset as AntMaze (its test: the name)."""
    return "antmaze" in dataset.lower()


def is_locomotion(dataset: str) -> bool:
    """Whether ``call_main`` normalises the dataset's returns (its test: the name)."""
    return any(task in dataset.lower() for task in LOCOMOTION)


def peer_arrays(raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The fields of the peer's ``D4RLDataset`` (module docstring) from D4RL arrays."""
    d = qlearning_transitions(raw)
    obs, nxt, term = d["observations"], d["next_observations"], d["terminals"]
    dones = np.zeros(len(obs), dtype=bool)
    jump = np.linalg.norm(obs[1:] - nxt[:-1], axis=1) > 1e-6
    dones[:-1] = jump | (term[:-1] == 1.0)
    dones[-1] = True
    lim = 1 - ACTION_CLIP_EPS
    return {
        "observations": obs,
        "actions": np.clip(d["actions"], -lim, lim).astype(np.float32),
        "rewards": d["rewards"].astype(np.float32),
        "next_observations": nxt,
        "masks": (1.0 - term).astype(np.float32),
        "dones": dones,
    }


def check_action_bounds(env_id: str, eval_seed: int) -> None:
    """Stop unless the environment's actions lie in [-1, 1], where the peer's
    ``RescaleAction`` leaves them as they are."""
    from genpolicy.envs.evaluate import make_eval_env

    env = make_eval_env(env_id, 1, eval_seed)
    try:
        space: Any = env.single_action_space
        low, high = np.asarray(space.low), np.asarray(space.high)
    finally:
        env.close()
    if not (np.allclose(low, -1.0) and np.allclose(high, 1.0)):
        raise SystemExit(
            f"{env_id}'s actions lie in [{low.min()}, {high.max()}]; the peer acts in [-1, 1] "
            "through gym's RescaleAction, which this script does not apply"
        )


# --------------------------------------------------------------------------- the run
def run(a: argparse.Namespace) -> None:
    if a.threads == 1:
        single_thread_xla()
    if str(ROOT) not in sys.path:
        sys.path.insert(1, str(ROOT))
    try:
        import gym

        # after gym, whose logger shows every DeprecationWarning once: flax 0.7.5 calls JAX
        # functions that JAX 0.4.21 marks deprecated, once at import
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"flax\.")
        import jax
        from jaxrl5.agents import DDPMIQLLearner
        from jaxrl5.data.dataset import Dataset
    except ImportError as e:
        raise SystemExit(f"{e}: put the IDQL checkout on PYTHONPATH") from e
    from genpolicy.envs.evaluate import score_task

    raw, dataset_name, env_id = read_export(a.data, a.env_id, "--env-id")
    s = peer_settings(a, dataset_name)
    train = s["train"]
    steps = a.steps if a.steps is not None else train["max_steps"] - 1
    every = a.eval_every if a.eval_every is not None else train["eval_interval"]
    if every and steps % every:
        raise SystemExit(f"--steps {steps} is no multiple of --eval-every {every}")
    print(f"{PEER}, {steps} updates: {json.dumps(jsonable(s))}", file=sys.stderr)
    if a.dry_run:
        return
    check_action_bounds(env_id, a.eval_seed)
    task = score_task(env_id, dataset_name)

    # call_main: the dataset, its rewards, the split, then the learner
    antmaze = is_antmaze(dataset_name)
    ds = Dataset(peer_arrays(raw))
    if antmaze:
        ds.dataset_dict["rewards"] -= 1.0
        rewards = "raw - 1"
    elif is_locomotion(dataset_name) and train["normalize_returns"]:
        ds.normalize_returns()
        rewards = "1000 / (max - min episode return)"
    else:
        rewards = "raw"
    ds.seed(a.seed)
    ds_train, ds_val = ds.split(train["split"])
    obs_dim = ds.dataset_dict["observations"].shape[1]
    act_dim = ds.dataset_dict["actions"].shape[1]
    obs_space = gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32)
    act_space = gym.spaces.Box(-1.0, 1.0, (act_dim,), np.float32)
    obs_space.seed(a.seed)  # the learner draws one of each for its networks' shapes
    act_space.seed(a.seed)
    agent = DDPMIQLLearner.create(a.seed, obs_space, act_space, **s["learner"])
    batch_size = train["batch_size"]
    ds_train.sample_jax(batch_size)  # call_main draws one batch before its loop

    base = {
        "peer": PEER,
        "peer_commit": peer_commit(),
        "algo": "idql",
        "env": env_id,
        "dataset": dataset_name,
        "seed": a.seed,
        **jsonable({k: v for k, v in s.items() if k != "inference"}),
        "data": {
            "transitions": len(ds),
            "train_rows": len(ds_train),
            "validation_rows": len(ds_val),
            "episodes": int(ds.dataset_dict["dones"].sum()),
            "observations": "raw",
            "rewards": rewards,
            "action_clip": 1 - ACTION_CLIP_EPS,
        },
        "jax": jax.__version__,
    }
    print(
        f"{len(ds)} transitions ({len(ds_train)} training), "
        f"{base['data']['episodes']} episodes; rewards {rewards}",
        file=sys.stderr,
    )

    def act_fn_of(eval_agent: Any) -> Any:
        """The peer's ``eval_actions`` state by state, its JAX key carried from call to call
        as its evaluation carries it."""
        state = {"agent": eval_agent}

        def act_fn(obs: np.ndarray) -> np.ndarray:
            out = []
            for o in obs:
                action, state["agent"] = state["agent"].eval_actions(o)
                out.append(np.asarray(action, dtype=np.float32).reshape(act_dim))
            return np.stack(out)

        return act_fn

    def log_eval(
        agent: Any, step: int, train_s: float, first_s: float, info: dict[str, Any]
    ) -> None:
        rest = train_s - first_s
        losses = {k: float(v) for k, v in info.items()}
        for inference in s["inference"]:
            act_fn = act_fn_of(agent.replace(**inference))  # the peer's agent.replace(...)
            res = evaluate_aside(act_fn, env_id, a.eval_episodes, a.eval_seed, task)
            row = eval_row(
                base,
                step,
                res,
                inference=inference,
                train_s=round(train_s, 2),
                first_update_s=round(first_s, 2),
                updates_per_s=round((step - 1) / rest, 3) if step > 1 and rest > 0 else None,
                losses=losses,
            )
            emit(row, a.out)

    sample = functools.partial(ds_train.sample_jax, batch_size)
    run_jax_updates(agent, sample, steps, every or steps, log_eval)


def add_args(r: argparse.ArgumentParser) -> None:
    r.add_argument("data", help="the .npz of the export step")
    r.add_argument("--env-id", "--env", help="Gymnasium id (default: the dataset's)")
    r.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change an argument of DDPMIQLLearner.create or batch_size (repeatable)",
    )
    r.add_argument("--steps", type=int, help="updates (default: the launcher's max_steps - 1)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument(
        "--eval-every",
        type=int,
        help="updates (default: the launcher's eval_interval); 0: at the end",
    )
    r.add_argument("--eval-episodes", type=int, default=10)
    r.add_argument("--eval-seed", type=int, default=EVAL_SEED)
    r.add_argument(
        "--eval-n",
        type=int,
        action="append",
        metavar="N",
        help="samples per state at evaluation (repeatable; default: the launcher's 16, 64, 256)",
    )
    r.add_argument(
        "--threads",
        type=int,
        default=1,
        help="1: XLA's CPU kernels on one thread (XLA_FLAGS); other values leave XLA as it is",
    )
    r.add_argument("--out", help="append the JSON lines to this file")
    r.add_argument("--dry-run", action="store_true", help="print the settings and stop")


if __name__ == "__main__":
    main(
        __doc__ or "",
        "train and evaluate IDQL's DDPMIQLLearner (needs its checkout)",
        add_args,
        run,
    )
