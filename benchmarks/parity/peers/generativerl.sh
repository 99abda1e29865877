#!/usr/bin/env bash
# A virtualenv outside this repository for GenerativeRL (opendilab) as a peer: the CPU build
# of torch pinned, GenerativeRL's dependencies from the package registry, Gymnasium and
# MuJoCo for genpolicy's evaluation, and GenerativeRL itself from a checkout you give.
#
#   git clone https://github.com/opendilab/GenerativeRL GRL_SOURCE
#   GRL_SOURCE=GRL_SOURCE bash benchmarks/parity/peers/generativerl.sh VENV_DIR
#   PYTHONPATH=GRL_SOURCE VENV_DIR/bin/python benchmarks/parity/peers/grl_gmpo.py run ...
#
# GenerativeRL runs from the checkout (PYTHONPATH), not installed: grl.algorithms.gmpo imports
# grl/generative_models/bridge_flow_model, a folder without __init__.py, which setuptools'
# find_packages skips, so neither the PyPI release (0.0.1) nor an install of a checkout has
# it. Its dependencies come from the PyPI release (installed, then GenerativeRL itself
# uninstalled; they are the checkout's setup.py list), plus torchdiffeq, which its ODE solver
# imports and its setup.py names only as a git dependency link. The checkout's commit is
# written to VENV_DIR/generativerl-source.txt; the grl_*.py adapters put it in every result line.
#
# Only the package registries are reachable from the machines this runs on, so torch comes
# from the registry under a constraints file; the script then checks it is a CPU build.
# GYMNASIUM_VERSION / MUJOCO_VERSION should match genpolicy's environment, so that both
# evaluate on the same dynamics.
set -euo pipefail
venv=${1:?usage: GRL_SOURCE=CHECKOUT generativerl.sh VENV_DIR (a folder outside the repository)}
src=${GRL_SOURCE:?set GRL_SOURCE to a clone of https://github.com/opendilab/GenerativeRL}
# shellcheck source=venv_common.sh
. "$(dirname "$0")/venv_common.sh"
venv_target "$venv"
src=$(realpath "$src")
if [ ! -f "$src/grl/algorithms/gmpo.py" ]; then
    echo "error: GRL_SOURCE=$src is no GenerativeRL checkout (no grl/algorithms/gmpo.py)" >&2
    exit 2
fi
commit=$(git -C "$src" rev-parse HEAD 2>/dev/null || echo unknown)
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
GRL_DEPS_VERSION=${GRL_DEPS_VERSION:-0.0.1}
GYMNASIUM_VERSION=${GYMNASIUM_VERSION:-1.4.0}
MUJOCO_VERSION=${MUJOCO_VERSION:-4.0.1}
venv_make
"${pip[@]}" install -q -c "$constraints" "GenerativeRL==$GRL_DEPS_VERSION" torchdiffeq
"${pip[@]}" uninstall -q -y GenerativeRL
"${pip[@]}" install -q -c "$constraints" \
    "gymnasium[mujoco]==$GYMNASIUM_VERSION" "mujoco==$MUJOCO_VERSION"
printf '%s %s\n' "$src" "$commit" >"$target/generativerl-source.txt"
PYTHONPATH="$src:$repo/benchmarks/parity/peers" "$target/bin/python" - <<'PY'
import grl_compat  # noqa: F401  (before grl)
import torch
import grl.algorithms.gmpg  # noqa: F401
import grl.algorithms.gmpo  # noqa: F401
import grl.algorithms.idql  # noqa: F401
import grl.algorithms.qgpo  # noqa: F401
import grl.algorithms.srpo  # noqa: F401

if torch.version.cuda is not None:
    raise SystemExit(f"torch {torch.__version__} is a CUDA build; expected the CPU build")
print(f"ok: torch {torch.__version__} (CPU build), GenerativeRL importable from {grl.__path__[0]}")
PY
echo "GenerativeRL $commit; run the peers with PYTHONPATH=$src"
