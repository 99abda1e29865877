#!/bin/bash
# One cell of the medium-replay learning-curves grid (docs/learning.md): every row of one
# dataset and seed, trained on one file, in one go.
#
#   scripts/curves_cell.sh TASK SEED [SPEC]     # TASK: hopper, walker2d or halfcheetah
#
# SPEC defaults to benchmarks/sweeps/curves-medium-replay.yaml. Why a cell: the
# medium-replay file is a SAC run's replay buffer, and SAC does not reproduce across
# machines (docs/datasets.md), so a file lost with a machine cannot be made again. The rows
# of a cell are compared with each other (the target table's differences from IQL), so
# they must share one file; different cells may come from different files (every run's
# summary.json records the file's fingerprint, and `genpolicy report` flags a dataset whose
# runs mix files).
#
# What it does:
# 1. without datasets/<task>-medium-replay-v5.hdf5: trains the medium SAC run
#    (scripts/train_medium_sac_all.sh, into datasets/sac-cell) and makes the file from its
#    buffer;
# 2. refuses when a run of this cell already finished on a file with another fingerprint;
# 3. runs the cell's rows in two lanes of one thread each, the rows issue 10's target reads
#    first: GMPG (50k), its bounded-phase branches (at 49k and 19k), BC, then the published
#    phase's branch at 19k in one; IQL, GMPO, GTP in the other. Stopped runs resume from
#    their checkpoints when the same command is run again.
#
# Cost on this 2-core machine (two lanes): hopper 93 min (session 18; lanes of 81 and 93)
# plus its SAC run (13-51 min by machine); walker2d about 2.4 hours plus 50-93 min of SAC;
# halfcheetah about 2.2 hours plus 28-47 min of SAC (estimates from the grid's run times).
set -u
cd "$(dirname "$0")/.."
task="${1:?usage: scripts/curves_cell.sh TASK SEED [SPEC]}"
seed="${2:?usage: scripts/curves_cell.sh TASK SEED [SPEC]}"
spec="${3:-benchmarks/sweeps/curves-medium-replay.yaml}"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
data="datasets/$task-medium-replay-v5.hdf5"
mkdir -p logs
if [ ! -f "$data" ]; then
  echo "no $data: training the medium SAC run for $task ($(date -u))"
  bash scripts/train_medium_sac_all.sh datasets/sac-cell "$task" || exit 1
  [ -f "datasets/sac-cell/sac_buffer_$task-v5.npz" ] || {
    echo "the SAC run left no buffer: see logs/sac_$task.out" >&2; exit 1; }
  genpolicy dataset make-suite --agents ../shared/behavior-agents --buffers datasets/sac-cell \
    --out datasets --kinds medium-replay --tasks "$task" --no-progress || exit 1
fi
out=$(python -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["out"])' "$spec")
python - "$data" "$out/runs" "$task-medium-replay" "$seed" <<'EOF' || exit 1
import json, sys
from pathlib import Path
from genpolicy.data import load_dataset
from genpolicy.cli.dataset import format_info
from genpolicy.data.make.dataset import dataset_summary
data, runs, prefix, seed = sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[4]
info = dataset_summary(load_dataset(data))  # what `genpolicy dataset info` prints
print(format_info(info))
fp = info["fingerprint"]
for s in sorted(runs.glob(f"{prefix}-*-s{seed}/summary.json")):
    old = json.loads(s.read_text()).get("dataset_fingerprint")
    if old and old != fp:
        sys.exit(f"{s.parent.name} ran on another file ({old}, this one is {fp}): a cell's rows "
                 "must share one file; move that cell's run folders aside to start it again")
print(f"cell {prefix} seed {seed}: file {fp}")
EOF
sweep() { genpolicy sweep "$spec" --workers 1 --threads 1 --only "$task-medium-replay-$1-s$seed"; }
(for row in gmpg gmpg-adv-clip gmpg-20k-adv-clip bc gmpg-20k; do sweep "$row" || exit 1; done) &
gmpg=$!
(for row in iql gmpo gtp; do sweep "$row" || exit 1; done) &
rest=$!
wait $gmpg; a=$?
wait $rest; b=$?
echo "cell $task seed $seed: lanes exited $a (GMPG, BC) and $b (IQL, GMPO, GTP) ($(date -u))"
[ $a -eq 0 ] && [ $b -eq 0 ]
