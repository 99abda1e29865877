#!/usr/bin/env bash
# Install GenerativeRL (opendilab, the PyPI package) into a virtualenv outside this repository,
# with the CPU build of torch pinned, for the QGPO peer check (grl_qgpo_bandit.py).
#
#   bash benchmarks/parity/peers/generativerl.sh VENV_DIR
#   VENV_DIR/bin/python benchmarks/parity/peers/grl_qgpo_bandit.py --data bandit.npz
#
# Only the package registries are reachable from the machines this runs on, so torch comes
# from the registry under a constraints file; the script then checks it is a CPU build.
set -euo pipefail
venv=${1:?usage: generativerl.sh VENV_DIR (a folder outside the repository)}
repo=$(cd "$(dirname "$0")/../../.." && pwd)
target=$(realpath -m "$venv")
case "$target/" in
"$repo"/*)
    echo "error: VENV_DIR=$venv lies inside the repository; give a folder outside it" >&2
    exit 2
    ;;
esac
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
GRL_VERSION=${GRL_VERSION:-0.0.1}
python3 -m venv "$target"
pip=("$target/bin/python" -m pip)
constraints="$target/constraints.txt"
printf 'torch==%s\n' "$TORCH_VERSION" >"$constraints"
"${pip[@]}" install -q --upgrade pip
"${pip[@]}" install -q -c "$constraints" "torch==$TORCH_VERSION"
"${pip[@]}" install -q -c "$constraints" "GenerativeRL==$GRL_VERSION"
"$target/bin/python" - <<'PY'
import torch
import grl.algorithms.qgpo  # noqa: F401  (the peer's QGPO imports)

if torch.version.cuda is not None:
    raise SystemExit(f"torch {torch.__version__} is a CUDA build; expected the CPU build")
print(f"ok: torch {torch.__version__} (CPU build), GenerativeRL importable")
PY
