"""What every D4RL peer adapter shares (``grl_common`` and so the ``grl_*`` adapters,
``d3rlpy_run``, ``diffusion_ql_run``, ``fql_run`` and ``idql_run``), in any of their
interpreters: it imports only numpy, the standard library and, inside its functions, genpolicy
(put on the path by each adapter).

* ``export``: a dataset's D4RL arrays to an ``.npz`` (genpolicy's python), and
  ``read_export``, that file read back;
* ``qlearning_transitions``: the transitions ``d4rl.qlearning_dataset`` makes of those
  arrays, which the peers that read D4RL through it train on;
* ``source_commit``: the commit of a peer used from a checkout;
* ``evaluate_aside``: genpolicy's evaluation, the global random states left as they were;
* ``single_thread_xla``: XLA's CPU kernels on one thread, for the JAX peers;
* ``eval_row`` and ``emit``: one evaluation of genpolicy's as one JSON line, printed and
  appended to the ``--out`` file;
* the command line's frame (``main``: ``export DATASET OUT`` / ``run DATA.npz ...``).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
EVAL_SEED = 100_000  # genpolicy's train.eval_seed


def export(spec: str, out: str) -> None:
    """Write the D4RL arrays of ``spec`` (a .hdf5, a suite name, a Minari id) to ``out``."""
    from genpolicy.data.readers import D4RL_KEYS, read_raw
    from genpolicy.envs.gym_envs import guess_env_id

    raw = read_raw(spec)
    arrays: dict[str, Any] = {k: raw.arrays[k] for k in D4RL_KEYS if k in raw.arrays}
    env_id = raw.env_id or guess_env_id(raw.name) or ""
    np.savez(out, **arrays, name=np.str_(raw.name), env_id=np.str_(env_id))
    print(f"wrote {out}: {len(arrays['actions'])} rows of {raw.name} ({env_id or 'no env id'})")


def read_export(
    path: str, env: str | None, env_flag: str = "--env"
) -> tuple[dict[str, np.ndarray], str, str]:
    """The arrays of ``export``'s ``.npz``, the dataset's name and its Gymnasium id (``env``
    overrides the stored one; ``env_flag`` is the option named when there is neither)."""
    with np.load(path) as z:
        raw = {k: z[k] for k in z.files}
    dataset = str(raw.pop("name", Path(path).stem))
    stored = str(raw.pop("env_id", ""))
    env_id = env or stored
    if not env_id:
        raise SystemExit(f"the data names no environment; pass {env_flag} (e.g. Hopper-v5)")
    return raw, dataset, env_id


def qlearning_transitions(d: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``d4rl.qlearning_dataset``'s transitions of D4RL arrays: every row but the last and
    those that end in a time-out (D4RL takes s' from the next row, which after a time-out
    starts another episode; the file's ``next_observations``, where present, equal it on
    every row kept and not terminal)."""
    n = len(d["actions"])
    keep = np.ones(n, dtype=bool)
    keep[-1] = False
    if "timeouts" in d:
        keep &= ~d["timeouts"].astype(bool)
    obs = d["observations"].astype(np.float32)
    nxt = d["next_observations"] if "next_observations" in d else np.roll(obs, -1, axis=0)
    return {
        "observations": obs[keep],
        "actions": d["actions"].astype(np.float32)[keep],
        "next_observations": nxt.astype(np.float32)[keep],
        "rewards": d["rewards"].astype(np.float32).reshape(-1)[keep],
        "terminals": d["terminals"].astype(np.float32).reshape(-1)[keep],
    }


def source_commit(src: Path, record: str, env_var: str) -> str | None:
    """The commit of the peer checkout ``src``: its git metadata; else the one its
    virtualenv script recorded in the running virtualenv's file ``record`` (a line
    ``CHECKOUT COMMIT``) for that checkout; else ``env_var`` from the environment (for a
    copy of the source without ``.git``)."""
    try:
        out = subprocess.run(
            ["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True
        )
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except OSError:
        pass
    path = Path(sys.prefix) / record
    if path.is_file():
        parts = path.read_text().strip().rsplit(maxsplit=1)
        if len(parts) == 2 and Path(parts[0]).resolve() == src and parts[1] != "unknown":
            return parts[1]
    return os.environ.get(env_var) or None


def evaluate_aside(act_fn: Any, env_id: str, episodes: int, eval_seed: int, task: Any) -> Any:
    """genpolicy's ``evaluate`` of ``act_fn``, leaving numpy's and torch's global random
    states as they were, so that a peer's training draws what it would have drawn without
    the evaluation."""
    import torch

    from genpolicy.envs.evaluate import evaluate

    np_state = np.random.get_state()
    try:
        with torch.random.fork_rng():
            return evaluate(act_fn, env_id, episodes, eval_seed, task)
    finally:
        np.random.set_state(np_state)


def single_thread_xla() -> None:
    """XLA's CPU client on one thread for its Eigen kernels (before JAX is imported)."""
    flag = "--xla_cpu_multi_thread_eigen=false"
    current = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_multi_thread_eigen" not in current:
        os.environ["XLA_FLAGS"] = f"{current} {flag}".strip()


def parse_value(text: str) -> Any:
    """A ``--set`` value: a Python literal (numbers, tuples, None), true/false, else text."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def run_jax_updates(
    agent: Any,
    sample: Callable[[], Any],
    steps: int,
    every: int,
    log_eval: Callable[[Any, int, float, float, dict[str, Any]], None],
) -> Any:
    """``steps`` updates ``agent, info = agent.update(sample())`` of a JAX peer, timed: the
    clock waits for the update's arrays on the first step and every ``every``-th, where
    ``log_eval(agent, step, train_s, first_s, info)`` runs (``first_s``: the first update,
    in which JAX compiles). Returns the trained agent."""
    import jax

    train_s = first_s = 0.0
    info: dict[str, Any] = {}
    for i in range(1, steps + 1):
        t0 = time.perf_counter()
        agent, info = agent.update(sample())
        if i == 1 or i % every == 0:
            jax.block_until_ready(agent)  # the clock stops when the updates have run
        dt = time.perf_counter() - t0
        train_s += dt
        if i == 1:
            first_s = dt
        if i % every == 0:
            log_eval(agent, i, train_s, first_s, info)
    return agent


def eval_row(base: dict[str, Any], step: int, res: Any, **fields: Any) -> dict[str, Any]:
    """One evaluation's row: ``base``, the step, the results of genpolicy's ``evaluate`` and
    the fields given, in that order."""
    return {
        **base,
        "step": step,
        "return_mean": res.return_mean,
        "return_std": res.return_std,
        "score_mean": res.score_mean,
        "score_std": res.score_std,
        "episodes": res.episodes,
        "eval_s": round(res.seconds, 2),
        **fields,
    }


def emit(row: dict[str, Any], out: str | None) -> None:
    """Print ``row`` as one JSON line and append it to ``out``, if given."""
    line = json.dumps(row, default=str)
    print(line, flush=True)
    if out:
        with open(out, "a") as f:
            f.write(line + "\n")


def main(
    doc: str,
    run_help: str,
    add_run_args: Callable[[argparse.ArgumentParser], None],
    run: Callable[[argparse.Namespace], None],
) -> None:
    """``export DATASET OUT`` / ``run DATA.npz ...`` of an adapter: ``run``'s options from
    ``add_run_args``."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export", help="write the dataset's arrays (needs genpolicy)")
    e.add_argument("dataset", help="a D4RL-layout .hdf5, a suite name or a Minari id")
    e.add_argument("out", help="the .npz to write")
    r = sub.add_parser("run", help=run_help)
    add_run_args(r)
    a = p.parse_args()
    export(a.dataset, a.out) if a.cmd == "export" else run(a)
