#!/bin/bash
# Log-likelihood error of GMPG's solver settings on a trained model (issue 12's error budget):
# the policy of a finished GMPG run, 256 dataset states, each step count against 1000 RK4
# steps with the exact divergence. Usage: benchmarks/gmpg_loglik_error.sh RUN_DIR OUT.json
set -eu
run=$1; out=$2
echo "[" > "$out"
first=1
for steps in 6 10 20 40; do
  [ $first = 1 ] || echo "," >> "$out"; first=0
  OMP_NUM_THREADS=1 genpolicy loglik-error "$run" --steps "$steps" --reference-steps 1000 >> "$out"
done
echo "]" >> "$out"
