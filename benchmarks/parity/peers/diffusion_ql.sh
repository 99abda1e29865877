#!/usr/bin/env bash
# A virtualenv outside this repository for the Diffusion-QL authors' code
# (Zhendong-Wang/Diffusion-Policies-for-Offline-RL, Apache-2.0) as a peer: the CPU build of
# torch pinned, the few packages its agents import, Gymnasium and MuJoCo at the versions of
# genpolicy's environment for genpolicy's evaluation, and the peer itself from a checkout you
# give.
#
#   git clone https://github.com/Zhendong-Wang/Diffusion-Policies-for-Offline-RL DQL_SOURCE
#   DQL_SOURCE=DQL_SOURCE bash benchmarks/parity/peers/diffusion_ql.sh VENV_DIR
#   PYTHONPATH=DQL_SOURCE VENV_DIR/bin/python benchmarks/parity/peers/diffusion_ql_run.py run ...
#
# The repository is no package (no setup.py): its `agents` and `utils` folders are imported
# from the checkout (PYTHONPATH). Its requirements.txt pins a 2022 stack (torch 1.10 with
# CUDA 11.1, gym 0.24, mujoco-py, d4rl from git) that only its main.py needs: main.py reads
# the data with d4rl and evaluates in gym. diffusion_ql_run.py imports neither; it builds
# the replay data from the exported arrays and evaluates with genpolicy. What is imported
# (agents/ql_diffusion.py and what it imports, utils/data_sampler.py) needs torch, numpy,
# python-dateutil and tabulate (utils/logger.py imports the last two at its top). The
# checkout's commit is written to VENV_DIR/diffusion-ql-source.txt; diffusion_ql_run.py puts
# it in every result line.
#
# Only the package registries are reachable from the machines this runs on, so torch comes
# from the registry under a constraints file; the script then checks it is a CPU build.
# GYMNASIUM_VERSION / MUJOCO_VERSION should match `pip show gymnasium mujoco` in genpolicy's
# environment, so that both sides evaluate on the same dynamics.
set -euo pipefail
venv=${1:?usage: DQL_SOURCE=CHECKOUT diffusion_ql.sh VENV_DIR (a folder outside the repository)}
src=${DQL_SOURCE:?set DQL_SOURCE to a clone of https://github.com/Zhendong-Wang/Diffusion-Policies-for-Offline-RL}
# shellcheck source=venv_common.sh
. "$(dirname "$0")/venv_common.sh"
venv_target "$venv"
src=$(realpath "$src")
if [ ! -f "$src/agents/ql_diffusion.py" ] || [ ! -f "$src/main.py" ]; then
    echo "error: DQL_SOURCE=$src is no Diffusion-QL checkout (no agents/ql_diffusion.py)" >&2
    exit 2
fi
commit=$(git -C "$src" rev-parse HEAD 2>/dev/null || echo unknown)
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
GYMNASIUM_VERSION=${GYMNASIUM_VERSION:-1.4.0}
MUJOCO_VERSION=${MUJOCO_VERSION:-4.0.1}
venv_make
"${pip[@]}" install -q -c "$constraints" numpy python-dateutil tabulate \
    "gymnasium[mujoco]==$GYMNASIUM_VERSION" "mujoco==$MUJOCO_VERSION"
printf '%s %s\n' "$src" "$commit" >"$target/diffusion-ql-source.txt"
PYTHONPATH="$src" "$target/bin/python" - <<'PY'
import agents.ql_diffusion
import gymnasium
import mujoco
import torch
import utils.data_sampler  # noqa: F401

if torch.version.cuda is not None:
    raise SystemExit(f"torch {torch.__version__} is a CUDA build; expected the CPU build")
print(
    f"ok: torch {torch.__version__} (CPU build), gymnasium {gymnasium.__version__}, "
    f"mujoco {mujoco.__version__}, Diffusion_QL importable from {agents.ql_diffusion.__file__}"
)
PY
"${pip[@]}" check
echo "Diffusion-QL $commit; run the peer with PYTHONPATH=$src"
