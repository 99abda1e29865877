#!/bin/bash
# Train the medium SAC policies one after another (one thread each), as was done for the
# weights committed under genpolicy/assets. Each run stops when its stochastic evaluation
# return (5 episodes, every 5000 steps) reaches about one third of the expert's return;
# `touch logs/STOP_SAC` stops the current run early (it still saves weights and buffer).
#
#   scripts/train_medium_sac_all.sh [OUT] [TASK ...]     # OUT default datasets/sac,
#                                                        # TASK: hopper walker2d halfcheetah
#
# Weights and replay buffers go to OUT (sac_medium_<task>-v5.pt, sac_buffer_<task>-v5.npz),
# where `genpolicy dataset make-suite --buffers OUT` finds the buffers. The committed weights
# under genpolicy/assets are never touched: copy a new actor there by hand to ship it. A task
# whose files already exist in OUT is refused by train_medium_sac.py (no --overwrite here).
set -u
cd "$(dirname "$0")/.."
out="${1:-datasets/sac}"
shift || true
tasks=("$@")
[ ${#tasks[@]} -eq 0 ] && tasks=(hopper walker2d halfcheetah)
mkdir -p logs "$out"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
for task in "${tasks[@]}"; do
  case "$task" in
    hopper) env=Hopper-v5 target=1200 ;;
    walker2d) env=Walker2d-v5 target=1500 ;;
    halfcheetah) env=HalfCheetah-v5 target=4000 ;;
    *) echo "unknown task '$task': use hopper, walker2d or halfcheetah" >&2; exit 2 ;;
  esac
  echo "start $env $(date -u)"
  python scripts/train_medium_sac.py --env "$env" --target "$target" --max-steps 400000 \
    --weights "$out/sac_medium_$task-v5.pt" \
    --buffer "$out/sac_buffer_$task-v5.npz" \
    --log "logs/sac_$task.json" > "logs/sac_$task.out" 2>&1
  echo "done $env rc=$? $(date -u)"
done
