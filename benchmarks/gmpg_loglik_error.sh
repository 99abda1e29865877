#!/bin/bash
# Log-likelihood error of GMPG's solver settings on a trained model (the error budget):
# 256 dataset states, each step count (RK4, exact divergence, on a time grid of power P)
# against 1000 equally spaced RK4 steps.
#   benchmarks/gmpg_loglik_error.sh RUN_DIR OUT.json            # the run's policy, uniform grid
#   MODEL=behaviour POWER=2 STEPS="10 20" benchmarks/gmpg_loglik_error.sh RUN_DIR OUT.json
set -eu
run=$1; out=$2
steps_list=${STEPS:-6 10 20 40}
power=${POWER:-1}
model=${MODEL:-policy}
echo "[" > "$out"
first=1
for steps in $steps_list; do
  [ $first = 1 ] || echo "," >> "$out"; first=0
  OMP_NUM_THREADS=1 genpolicy loglik-error "$run" --model "$model" --steps "$steps" \
    --grid-power "$power" --reference-steps 1000 >> "$out"
done
echo "]" >> "$out"
