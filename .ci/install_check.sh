#!/usr/bin/env bash
# The package as a user gets it: a non-editable install from a clean clone into a fresh
# virtualenv, used from an empty directory elsewhere. Shipped configs must resolve by name,
# the built-in default must train, and a published config must train on a suite file.
# The virtualenv sees the site-packages CI installed (torch and the extras), never the
# checkout itself.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

git clone -q "$repo" "$work/src"
python3 -m venv --system-site-packages "$work/venv"
"$work/venv/bin/python" -m pip install -q --no-deps "$work/src"
rm -rf "$work/src"
mkdir "$work/empty"
cd "$work/empty"
export PATH="$work/venv/bin:$PATH"

python -c "
import sys, genpolicy
where = genpolicy.__file__
assert where.startswith(sys.prefix), f'genpolicy imported from {where}, not the virtualenv'
print('installed:', where.removeprefix(sys.prefix))
"
genpolicy configs > names.txt
for name in default toy-gmpo published/gmpo/linear/hopper-medium cpu/hopper-medium-gmpo; do
  grep -qx "$name" names.txt || { echo "genpolicy configs does not list $name" >&2; exit 1; }
done
echo "genpolicy configs: $(wc -l < names.txt) names"
genpolicy train default --set train.steps=300 --set train.eval_every=300 \
  --set train.eval_episodes=100 --set train.progress=false
genpolicy dataset make-suite --tasks hopper --kinds medium --size 5000 --out datasets --no-progress
genpolicy train published/gmpo/linear/hopper-medium --set data.dataset=datasets/hopper-medium-v5.hdf5 \
  --set train.steps=50 --set train.eval_episodes=1 --set train.progress=false
echo "install check: passed"
