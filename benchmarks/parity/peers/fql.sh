#!/usr/bin/env bash
# A virtualenv outside this repository for FQL's authors' code (seohongpark/fql, MIT; JAX and
# flax) as a peer: the CPU build of JAX and the libraries FQL's agent, networks and dataset
# classes import, at versions its requirement list allows, Gymnasium and MuJoCo at the
# versions of genpolicy's environment for genpolicy's evaluation, and FQL itself from a
# checkout you give.
#
#   git clone https://github.com/seohongpark/fql FQL_SOURCE
#   FQL_SOURCE=FQL_SOURCE bash benchmarks/parity/peers/fql.sh VENV_DIR
#   PYTHONPATH=FQL_SOURCE VENV_DIR/bin/python benchmarks/parity/peers/fql_run.py run ...
#
# FQL is no package (its pyproject names no modules): fql_run.py imports its agents/ and
# utils/ from the checkout (PYTHONPATH). Left out of its requirement list: d4rl, ogbench, gym,
# shimmy and Cython (its environment and dataset loaders, which fql_run.py replaces with the
# exported arrays), and wandb, matplotlib and moviepy (its logging). Its gymnasium==0.29.1 pin
# is there for d4rl; genpolicy evaluates on its own Gymnasium and MuJoCo (GYMNASIUM_VERSION /
# MUJOCO_VERSION below should match `pip show gymnasium mujoco` there, so that both evaluate on
# the same dynamics). numpy stays at the list's 1.26.4. JAX, flax, optax, distrax and
# ml_collections are the releases of the code's time that satisfy its lower bounds (jax >=
# 0.4.26, flax >= 0.8.4, distrax >= 0.1.5), installed as jax[cpu]: no GPU build.
#
# torch is no requirement of FQL's: genpolicy's evaluation imports it (its built-in
# environments include the toy bandit, written in torch). Only the package registries are
# reachable from the machines this runs on, so torch comes from the registry under a
# constraints file; the script then checks it is a CPU build.
#
# The checkout's commit is written to VENV_DIR/fql-source.txt; fql_run.py puts the commit in
# every result line.
set -euo pipefail
venv=${1:?usage: FQL_SOURCE=CHECKOUT fql.sh VENV_DIR (a folder outside the repository)}
src=${FQL_SOURCE:?set FQL_SOURCE to a clone of https://github.com/seohongpark/fql}
# shellcheck source=venv_common.sh
. "$(dirname "$0")/venv_common.sh"
venv_target "$venv"
src=$(realpath "$src")
if [ ! -f "$src/agents/fql.py" ] || [ ! -f "$src/utils/datasets.py" ]; then
    echo "error: FQL_SOURCE=$src is no FQL checkout (no agents/fql.py, utils/datasets.py)" >&2
    exit 2
fi
commit=$(git -C "$src" rev-parse HEAD 2>/dev/null || echo unknown)
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
JAX_VERSION=${JAX_VERSION:-0.5.0}
FLAX_VERSION=${FLAX_VERSION:-0.10.2}
OPTAX_VERSION=${OPTAX_VERSION:-0.2.4}
DISTRAX_VERSION=${DISTRAX_VERSION:-0.1.5}
TFP_VERSION=${TFP_VERSION:-0.25.0}
ML_COLLECTIONS_VERSION=${ML_COLLECTIONS_VERSION:-1.0.0}
NUMPY_VERSION=${NUMPY_VERSION:-1.26.4}
GYMNASIUM_VERSION=${GYMNASIUM_VERSION:-1.4.0}
MUJOCO_VERSION=${MUJOCO_VERSION:-4.0.1}
venv_make
"${pip[@]}" install -q -c "$constraints" \
    "jax[cpu]==$JAX_VERSION" "flax==$FLAX_VERSION" "optax==$OPTAX_VERSION" \
    "distrax==$DISTRAX_VERSION" "tensorflow-probability==$TFP_VERSION" \
    "ml-collections==$ML_COLLECTIONS_VERSION" absl-py tqdm "numpy==$NUMPY_VERSION" \
    "gymnasium[mujoco]==$GYMNASIUM_VERSION" "mujoco==$MUJOCO_VERSION"
printf '%s %s\n' "$src" "$commit" >"$target/fql-source.txt"
PYTHONPATH="$src" "$target/bin/python" - <<'PY'
import flax
import gymnasium
import jax
import mujoco
import numpy as np
import torch

from agents.fql import FQLAgent, get_config
from utils.datasets import Dataset

if torch.version.cuda is not None:
    raise SystemExit(f"torch {torch.__version__} is a CUDA build; expected the CPU build")
platforms = {d.platform for d in jax.devices()}
if platforms != {"cpu"}:
    raise SystemExit(f"JAX sees {sorted(platforms)}; expected the CPU only")
# one update of the peer's agent on a few random rows
rng = np.random.default_rng(0)
rows = {
    "observations": rng.normal(size=(8, 3)).astype(np.float32),
    "actions": rng.uniform(-1, 1, size=(8, 2)).astype(np.float32),
    "next_observations": rng.normal(size=(8, 3)).astype(np.float32),
    "rewards": np.zeros(8, np.float32),
    "masks": np.ones(8, np.float32),
    "terminals": np.zeros(8, np.float32),
}
batch = Dataset.create(**rows).sample(4)
agent = FQLAgent.create(0, batch["observations"], batch["actions"], get_config())
agent, info = agent.update(batch)
if not np.isfinite(float(info["critic/critic_loss"])):
    raise SystemExit("the agent's first update gave a non-finite critic loss")
print(
    f"ok: jax {jax.__version__} (CPU), flax {flax.__version__}, numpy {np.__version__}, "
    f"torch {torch.__version__} (CPU build), gymnasium {gymnasium.__version__}, "
    f"mujoco {mujoco.__version__}; FQLAgent updates"
)
PY
"${pip[@]}" check
echo "FQL $commit; run the peer with PYTHONPATH=$src"
