#!/bin/bash
# Train the three medium SAC policies one after another (one thread each), as was done for the
# weights committed under genpolicy/assets. Each run stops when its stochastic evaluation
# return (5 episodes, every 5000 steps) reaches about one third of the expert's return;
# `touch logs/STOP_SAC` stops the current run early (it still saves weights and buffer).
set -u
cd "$(dirname "$0")/.."
mkdir -p logs datasets/sac
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
for spec in "Hopper-v5 1200 hopper" "Walker2d-v5 1500 walker2d" "HalfCheetah-v5 4000 halfcheetah"; do
  set -- $spec
  echo "start $1 $(date -u)"
  python scripts/train_medium_sac.py --env "$1" --target "$2" --max-steps 400000 \
    --weights "genpolicy/assets/sac_medium_$3-v5.pt" \
    --buffer "datasets/sac/sac_buffer_$3-v5.npz" \
    --log "logs/sac_$3.json" > "logs/sac_$3.out" 2>&1
  echo "done $1 rc=$? $(date -u)"
done
