"""What every D4RL peer adapter shares (``grl_common`` and so the ``grl_*`` adapters, and
``d3rlpy_run``), in any of their interpreters: it imports only numpy, the standard library
and, inside its functions, genpolicy (put on the path by each adapter).

* ``export``: a dataset's D4RL arrays to an ``.npz`` (genpolicy's python), and
  ``read_export``, that file read back;
* ``eval_row`` and ``emit``: one evaluation of genpolicy's as one JSON line, printed and
  appended to the ``--out`` file;
* the command line's frame (``main``: ``export DATASET OUT`` / ``run DATA.npz ...``).
"""

from __future__ import annotations

import argparse
import json
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
