#!/usr/bin/env bash
# A virtualenv outside this repository for d3rlpy (takuseno/d3rlpy, MIT) as a peer: the CPU
# build of torch pinned, d3rlpy from the package registry, Gymnasium and MuJoCo at the
# versions of genpolicy's environment for genpolicy's evaluation.
#
#   bash benchmarks/parity/peers/d3rlpy.sh VENV_DIR
#   VENV_DIR/bin/python benchmarks/parity/peers/d3rlpy_run.py run DATA.npz --algo iql ...
#
# d3rlpy 2.8.1 pins gymnasium==1.0.0 in its requirements, while genpolicy evaluates on the
# Gymnasium and MuJoCo of its own environment (GYMNASIUM_VERSION / MUJOCO_VERSION below
# should match `pip show gymnasium mujoco` there, so that both evaluate on the same
# dynamics). d3rlpy is therefore installed without its dependencies, and these are
# installed from its requirement list with that one pin replaced; d3rlpy's training code
# does not touch the environment (its own checks ask only for gymnasium >= 1.0.0).
# `pip check` reports the replaced pin; nothing else should differ.
#
# Only the package registries are reachable from the machines this runs on, so torch comes
# from the registry under a constraints file; the script then checks it is a CPU build.
# The installed d3rlpy version is written to VENV_DIR/d3rlpy-version.txt; d3rlpy_run.py
# puts the imported version in every result line.
set -euo pipefail
venv=${1:?usage: d3rlpy.sh VENV_DIR (a folder outside the repository)}
# shellcheck source=venv_common.sh
. "$(dirname "$0")/venv_common.sh"
venv_target "$venv"
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
D3RLPY_VERSION=${D3RLPY_VERSION:-2.8.1}
GYMNASIUM_VERSION=${GYMNASIUM_VERSION:-1.4.0}
MUJOCO_VERSION=${MUJOCO_VERSION:-4.0.1}
venv_make
"${pip[@]}" install -q --no-deps "d3rlpy==$D3RLPY_VERSION"
# d3rlpy's requirements (its package metadata), gymnasium==1.0.0 left out
"${pip[@]}" install -q -c "$constraints" \
    "tqdm>=4.66.3" h5py "gym>=0.26.0" click typing-extensions structlog colorama \
    dataclasses-json scikit-learn numpy \
    "gymnasium[mujoco]==$GYMNASIUM_VERSION" "mujoco==$MUJOCO_VERSION"
"$target/bin/python" - "$target/d3rlpy-version.txt" <<'PY'
import sys

import d3rlpy
import gymnasium
import mujoco
import torch

if torch.version.cuda is not None:
    raise SystemExit(f"torch {torch.__version__} is a CUDA build; expected the CPU build")
d3rlpy.run_healthcheck()
with open(sys.argv[1], "w") as f:
    f.write(d3rlpy.__version__ + "\n")
print(
    f"ok: torch {torch.__version__} (CPU build), d3rlpy {d3rlpy.__version__}, "
    f"gymnasium {gymnasium.__version__}, mujoco {mujoco.__version__}"
)
PY
"${pip[@]}" check || echo "(expected: d3rlpy's gymnasium pin, replaced as explained above)"
