#!/usr/bin/env bash
# Training throughput on one NVIDIA GPU: `genpolicy bench train` for every algorithm,
# eager / compiled / CUDA-graphed (train.compile: default, reduce-overhead), at batch
# 256 / 512 / 4096, and populations of 1 / 8 / 32 (BC, IQL, GMPO, GTP), within one 10-minute
# command. Needs this repository installed
# (`pip install -e .`); installs nothing. Writes train_speed_gpu.json to $OUT if set, else
# to benchmarks/results/. `--quick` (or QUICK=1) is a CPU dry run of the same path.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-benchmarks/results}"
mkdir -p "$out"
if [[ "${1:-}" == "--quick" || "${QUICK:-0}" == "1" ]]; then
  exec python -m genpolicy.cli bench train --quick --algos bc,gmpo --modes eager,default --populations 1,2 \
    --device cpu --json "$out/train_speed_quick.json"
fi
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/gpu.csv" || true
# populations of 1, 8 and 32 first (eager, about two minutes), then GMPO's and IQL's
# population of 32 CUDA-graphed, then about 30 rows x 3 modes; compile time dominates, so
# each timing runs 1 s
timeout 130 python -m genpolicy.cli bench train --device cuda --threads 4 \
  --algos iql,gmpo,gtp,bc --modes eager --batches 256,512 --populations 1,8,32 --min-seconds 1 \
  --json "$out/train_speed_gpu_populations.json" 2> "$out/train_speed_gpu_populations.log" || true
timeout 110 python -m genpolicy.cli bench train --device cuda --threads 4 \
  --algos gmpo,iql --modes reduce-overhead --batches 256 --populations 32 --min-seconds 1 \
  --json "$out/train_speed_gpu_populations_graphed.json" \
  2> "$out/train_speed_gpu_populations_graphed.log" || true
timeout 330 python -m genpolicy.cli bench train --device cuda --threads 4 \
  --modes eager,default,reduce-overhead --batches 256,512,4096 --min-seconds 1 \
  --json "$out/train_speed_gpu.json" 2> "$out/train_speed_gpu.log"
