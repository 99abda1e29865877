#!/usr/bin/env bash
# A virtualenv outside this repository for IDQL's authors' code (philippe-eecs/IDQL, whose
# setup.py names the MIT licence: the jaxrl5 package with their DDPMIQLLearner; JAX and flax)
# as a peer: the CPU build of JAX and
# the libraries the learner and the jaxrl5 modules it imports need, at versions its
# requirement list allows, Gymnasium and MuJoCo at the versions of genpolicy's environment for
# genpolicy's evaluation, and IDQL itself from a checkout you give.
#
#   git clone https://github.com/philippe-eecs/IDQL IDQL_SOURCE
#   IDQL_SOURCE=IDQL_SOURCE bash benchmarks/parity/peers/idql.sh VENV_DIR
#   PYTHONPATH=IDQL_SOURCE VENV_DIR/bin/python benchmarks/parity/peers/idql_run.py run ...
#
# The checkout's setup.py reads a requirements_test.txt the repository does not have, so
# jaxrl5 is not installed: idql_run.py imports it from the checkout (PYTHONPATH). Its
# requirement list is lower bounds only (jax >= 0.3.13, flax >= 0.5.2, optax >= 0.1.3,
# tensorflow-probability >= 0.17.0, numpy >= 1.20.2); the pins below are the releases current
# at the checkout's last commit: jax[cpu] 0.4.21 (no GPU build), flax 0.7.5, optax 0.1.7,
# tensorflow-probability 0.23.0 (jaxrl5.agents imports every learner, and the SAC-style ones
# import its JAX substrate), scipy 1.11.4 and numpy 1.26.2. gym is the list's
# `gym[mujoco] >= 0.21.0, < 0.24.1` at 0.23.1 without the extra: jaxrl5 imports gym for its
# space types and its seeding helper (the split of the data into training and validation
# rows), while the MuJoCo simulation is genpolicy's Gymnasium (GYMNASIUM_VERSION /
# MUJOCO_VERSION below should match `pip show gymnasium mujoco` there, so that both evaluate
# on the same dynamics). Left out: d4rl and mjrl (its D4RL dataset class, which idql_run.py
# replaces with the exported arrays), dm_control and dmcgym (its DeepMind Control wrappers),
# wandb, moviepy and imageio (its logging and videos), ml_collections and tqdm (its example
# scripts' flags and progress bar).
#
# torch is no requirement of IDQL's: genpolicy's evaluation imports it (its built-in
# environments include the toy bandit, written in torch). Only the package registries are
# reachable from the machines this runs on, so torch comes from the registry under a
# constraints file; the script then checks it is a CPU build.
#
# The checkout's commit is written to VENV_DIR/idql-source.txt; idql_run.py puts the commit in
# every result line.
set -euo pipefail
venv=${1:?usage: IDQL_SOURCE=CHECKOUT idql.sh VENV_DIR (a folder outside the repository)}
src=${IDQL_SOURCE:?set IDQL_SOURCE to a clone of https://github.com/philippe-eecs/IDQL}
# shellcheck source=venv_common.sh
. "$(dirname "$0")/venv_common.sh"
venv_target "$venv"
src=$(realpath "$src")
learner=jaxrl5/agents/ddpm_iql_simple/ddpm_iql_learner.py
launcher=launcher/examples/train_ddpm_iql_offline.py
if [ ! -f "$src/$learner" ] || [ ! -f "$src/$launcher" ]; then
    echo "error: IDQL_SOURCE=$src is no IDQL checkout (no $learner, $launcher)" >&2
    exit 2
fi
commit=$(git -C "$src" rev-parse HEAD 2>/dev/null || echo unknown)
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
JAX_VERSION=${JAX_VERSION:-0.4.21}
FLAX_VERSION=${FLAX_VERSION:-0.7.5}
OPTAX_VERSION=${OPTAX_VERSION:-0.1.7}
TFP_VERSION=${TFP_VERSION:-0.23.0}
SCIPY_VERSION=${SCIPY_VERSION:-1.11.4}
NUMPY_VERSION=${NUMPY_VERSION:-1.26.2}
GYM_VERSION=${GYM_VERSION:-0.23.1}
GYMNASIUM_VERSION=${GYMNASIUM_VERSION:-1.4.0}
MUJOCO_VERSION=${MUJOCO_VERSION:-4.0.1}
venv_make
"${pip[@]}" install -q -c "$constraints" \
    "jax[cpu]==$JAX_VERSION" "flax==$FLAX_VERSION" "optax==$OPTAX_VERSION" \
    "tensorflow-probability==$TFP_VERSION" "scipy==$SCIPY_VERSION" "numpy==$NUMPY_VERSION" \
    "gym==$GYM_VERSION" "gymnasium[mujoco]==$GYMNASIUM_VERSION" "mujoco==$MUJOCO_VERSION"
printf '%s %s\n' "$src" "$commit" >"$target/idql-source.txt"
PYTHONPATH="$src" "$target/bin/python" - <<'PY'
import flax
import gym
import gymnasium
import jax
import mujoco
import numpy as np
import torch

from jaxrl5.agents import DDPMIQLLearner
from jaxrl5.data.dataset import Dataset

if torch.version.cuda is not None:
    raise SystemExit(f"torch {torch.__version__} is a CUDA build; expected the CPU build")
platforms = {d.platform for d in jax.devices()}
if platforms != {"cpu"}:
    raise SystemExit(f"JAX sees {sorted(platforms)}; expected the CPU only")
# one update of the peer's learner on a few random rows, one action of its sampler
rng = np.random.default_rng(0)
rows = {
    "observations": rng.normal(size=(8, 3)).astype(np.float32),
    "actions": rng.uniform(-1, 1, size=(8, 2)).astype(np.float32),
    "next_observations": rng.normal(size=(8, 3)).astype(np.float32),
    "rewards": np.zeros(8, np.float32),
    "masks": np.ones(8, np.float32),
}
obs_space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
act_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
agent = DDPMIQLLearner.create(0, obs_space, act_space, N=4, actor_dropout_rate=0.1)
agent, info = agent.update(Dataset(rows, seed=0).sample_jax(4))
if not np.isfinite(float(info["critic_loss"])):
    raise SystemExit("the learner's first update gave a non-finite critic loss")
action, _ = agent.eval_actions(rows["observations"][0])
if action.shape != (2,) or not np.all(np.abs(action) <= 1):
    raise SystemExit(f"eval_actions gave {action!r}; expected 2 numbers in [-1, 1]")
print(
    f"ok: jax {jax.__version__} (CPU), flax {flax.__version__}, numpy {np.__version__}, "
    f"gym {gym.__version__}, torch {torch.__version__} (CPU build), "
    f"gymnasium {gymnasium.__version__}, mujoco {mujoco.__version__}; DDPMIQLLearner updates"
)
PY
"${pip[@]}" check
echo "IDQL $commit; run the peer with PYTHONPATH=$src"
