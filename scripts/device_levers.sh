#!/usr/bin/env bash
# Issue 10's lever ablation (levers-gmpo, levers-gtp) on a borrowed one-GPU machine, in one call
# of the workplace's device tool, which brings back what the command writes under $OUT:
#   carry: .whl (gymnasium + mujoco wheels for the machine's Python 3.12; pip is offline there)
#          .devdata (the suite's hopper- and halfcheetah-medium-v5 files, xz-compressed to fit
#          the 64 MiB the tool carries); both folders listed in .git/info/exclude, made with
#            pip download --no-deps --only-binary=:all: --python-version 3.12 \
#              --implementation cp --platform manylinux_2_28_x86_64 -d .whl gymnasium==1.4.0 \
#              mujoco==4.0.0 mujoco-core==4.0.0 farama-notifications glfw==2.11.0
#            xz -6 -c datasets/NAME.hdf5 > .devdata/NAME.hdf5.xz   # for each dataset
#   run:   bash scripts/device_levers.sh SECONDS [WORKERS [SPEC:GLOB ...]]
#   DEVDATA=DIR takes the compressed datasets from DIR instead of .devdata, e.g. the learning
#   curves on the medium-replay data (.devdata-mr: the three medium-replay files, made the
#   same way), 7 trials at a time so that each one's checkpoint comes back:
#     DEVDATA=.devdata-mr KEEP_CHECKPOINTS=1 bash scripts/device_levers.sh 470 7 \
#       benchmarks/sweeps/curves-medium-replay.yaml:'*-gmpo-s1' ...
# Trials run as ordinary sweep runs (`genpolicy sweep SPEC --only ID --device cuda`), WORKERS
# (default 14) at a time, highest priority first, until SECONDS have passed;
# scripts/deadline_sweep.py packs the run folders (no checkpoints) and the trials' logs into
# $OUT/runs.tgz.
set -u
SECONDS_FOR_RUNS=${1:-480}
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
    .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
mkdir -p datasets
DEVDATA=${DEVDATA:-.devdata}
ls "$DEVDATA"/*.xz > /dev/null || { echo "no $DEVDATA/*.xz: carry the folder"; exit 1; }
for f in "$DEVDATA"/*.xz; do
    python3 -c "import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'))" \
        "$f" "datasets/$(basename "$f" .xz)" &
done
wait
export GENPOLICY_DATASETS=$PWD/datasets
nvidia-smi --query-gpu=name,memory.used,memory.total,driver_version --format=csv,noheader
# CUDA MPS lets the 14 trials' small kernels share the GPU at once; kept only if a client works
export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps CUDA_MPS_LOG_DIRECTORY=/tmp/mpslog
mkdir -p /tmp/mps /tmp/mpslog
if nvidia-cuda-mps-control -d && timeout 60 python3 -c \
    "import torch; assert torch.ones(2, device='cuda').sum().item() == 2"; then
    echo "MPS on"
else
    echo quit | nvidia-cuda-mps-control 2>/dev/null
    echo "MPS off"
fi
python3 -c "import torch, gymnasium, mujoco, genpolicy; print('torch', torch.__version__, \
'cuda', torch.cuda.is_available(), 'gymnasium', gymnasium.__version__, 'mujoco', mujoco.__version__)" \
    || exit 1
# preflight: one short GTP run on the GPU with an evaluation, before any trial starts
FIRST=$(basename "$(ls "$DEVDATA"/*.xz | head -1)" .hdf5.xz)  # a dataset that is there
timeout 120 python3 -m genpolicy.cli train gtp/hopper-medium --set train.steps=20 \
    --set data.dataset="$FIRST" \
    --set train.eval_every=20 --set train.eval_episodes=1 --set train.device=cuda \
    --set train.out_dir=/tmp/preflight --set train.tensorboard=false --set train.log_every=10 \
    --set train.checkpoint_every=20 --set train.progress=false 2>&1 | tail -5
[ "${PIPESTATUS[0]}" = 0 ] || { echo "preflight failed"; exit 1; }
G=benchmarks/sweeps/levers-gmpo.yaml
T=benchmarks/sweeps/levers-gtp.yaml
WORKERS=${2:-14}
if [ $# -ge 2 ]; then shift 2; else set --; fi
if [ $# -eq 0 ]; then  # the ablation, highest priority first
    set -- "$G:halfcheetah-medium-v5-*-s0" "$G:*-critic-warmup-s1" "$G:*-self-norm-s1" \
        "$G:*-std-weights-s1" "$G:*-ema-s1" "$G:*-cosine-s1" "$T:*-baseline-*" "$T:*-min-ess-*" \
        "$G:hopper-medium-v5-*-s0" "$G:*-published-net-s1" "$G:*-plain-net-s1" \
        "$G:*-logit-normal-t-s1" "$G:*-batch-256-s1" "$G:*-batch-1024-s1" "$T:*"
fi
python3 scripts/deadline_sweep.py --device cuda --workers "$WORKERS" \
    --seconds "$SECONDS_FOR_RUNS" --out "$OUT/runs.tgz" --logs logs/deadline_sweep "$@" \
    2>&1 | tee "$OUT/driver.log"
# KEEP_CHECKPOINTS=1: also one tarball per started trial with its last checkpoint, so a run
# stopped at the deadline can be finished elsewhere (about 10 MB each; 7 come back at most;
# checkpoints never travel to the machine, so every one there was made by this call)
if [ "${KEEP_CHECKPOINTS:-0}" = 1 ]; then
    for d in benchmarks/results/*/runs/*/; do
        [ -e "$d/checkpoints/last.safetensors" ] || continue
        tar czf "$OUT/$(basename "$d").tgz" --exclude='best.*' "$d"
    done
fi
nvidia-smi --query-gpu=name,memory.used --format=csv,noheader
