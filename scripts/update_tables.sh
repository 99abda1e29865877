#!/bin/bash
# Regenerate every results table in README.md and docs/ from the benchmark summaries
# (benchmarks/results/*/report*/results.json and the benchmarks' JSON outputs).
set -eu
cd "$(dirname "$0")/.."
R=benchmarks/results
genpolicy tables $R/levers-reference/report/results.json \
  --steps 5000,10000,20000 --name levers-reference --update docs/benchmarks/levers.md > /dev/null
genpolicy tables $R/levers-reference/report/results.json \
  $R/levers-gmpo/report/results.json --steps 5000,10000,20000 --name levers-gmpo --update docs/benchmarks/levers.md > /dev/null
genpolicy tables $R/levers-reference/report/results.json \
  $R/levers-gtp/report/results.json --steps 5000,10000,20000 --name levers-gtp --update docs/benchmarks/levers.md > /dev/null
genpolicy tables $R/noisy-expert/report/results.json --steps 1000,3000,5000 \
  --name noisy-expert --update docs/benchmarks/noisy-expert.md > /dev/null
genpolicy tables $R/speed_before_after.json --name speed --update docs/benchmarks/speed.md > /dev/null
genpolicy tables $R/train_speed_cpu.json --name train-speed --update docs/benchmarks/speed.md > /dev/null
genpolicy tables $R/gtp-jumps/report/results.json --steps 5000,10000 --name gtp-jumps \
  --update docs/benchmarks/gtp-jumps.md > /dev/null
cp $R/gtp-jumps/report/curves_hopper-medium-v5.png docs/assets/benchmarks/gtp-jumps-hopper-medium.png
genpolicy tables $R/gmpo-steps/report/results.json --steps 5000,10000 --name gmpo-steps \
  --update docs/benchmarks/gtp-jumps.md > /dev/null
genpolicy tables $R/gmpo-vp-steps/report/results.json --steps 5000,10000 --name gmpo-vp-steps \
  --update docs/benchmarks/gtp-jumps.md > /dev/null
genpolicy tables $R/temperature-gmpo/report/results.json --steps 5000,10000,20000 \
  --name temperature-gmpo --update docs/benchmarks/temperature.md > /dev/null
cp $R/temperature-gmpo/report/sensitivity.png docs/assets/benchmarks/temperature-gmpo.png
genpolicy tables $R/temperature-gmpg/report/results.json --steps 15000,20000 \
  --name temperature-gmpg --update docs/benchmarks/temperature.md > /dev/null
cp $R/temperature/sensitivity.png docs/assets/benchmarks/temperature-gmpo-gmpg.png
genpolicy tables $R/train_speed_cpu_populations.json --name train-speed-populations \
  --update docs/benchmarks/speed.md > /dev/null
genpolicy tables $R/same-learning-iql/report/results.json --steps 5000,10000,20000 \
  --name same-learning --update docs/benchmarks/speed.md > /dev/null
genpolicy tables $R/same-learning-iql-medium-replay/report/results.json --steps 5000,10000,20000 \
  --name same-learning-medium-replay --update docs/benchmarks/speed.md > /dev/null
genpolicy tables $R/eval_noise_scale.json --name noise --update docs/benchmarks/noisy-expert.md > /dev/null
genpolicy tables $R/gmpg_memory.json --name gmpg-memory --update docs/benchmarks/gmpg-cost.md > /dev/null
genpolicy tables $R/gmpg_memory_defaults.json --name gmpg-memory-defaults \
  --update docs/benchmarks/gmpg-cost.md > /dev/null
genpolicy tables $R/gmpg_memory_published.json --name gmpg-memory-published \
  --update docs/benchmarks/gmpg-cost.md > /dev/null
genpolicy tables $R/gmpg_memory_default_net.json --name gmpg-memory-default-net \
  --update docs/benchmarks/gmpg-cost.md > /dev/null
genpolicy tables $R/loglik_time_grids_vp.json $R/loglik_time_grids_linear.json \
  --name loglik-grids --update docs/benchmarks/gmpg-cost.md > /dev/null
genpolicy tables $R/gmpg_pg_phase.json --name gmpg-pg-phase --update docs/benchmarks/gmpg-pg-phase.md > /dev/null
genpolicy tables $R/gmpg_pg_phase_draw2.json --name gmpg-pg-phase-draw2 --update docs/benchmarks/gmpg-pg-phase.md > /dev/null
genpolicy tables $R/gmpg_pg_phase_draw2_hopper100.json \
  --name gmpg-pg-phase-draw2-100 --update docs/benchmarks/gmpg-pg-phase.md > /dev/null
genpolicy tables $R/noisy-expert-draw2/report/results.json --steps 1000,3000,5000 \
  --name noisy-expert-draw2 --update docs/benchmarks/noisy-expert.md > /dev/null
genpolicy tables $R/noisy-expert-draw2/eval100 --target bc-deterministic \
  --name noisy-expert-draw2-eval100 --update docs/benchmarks/noisy-expert.md > /dev/null
genpolicy tables $R/pointmaze-medium/report/results.json \
  --name pointmaze-score --update docs/benchmarks/pointmaze.md > /dev/null
genpolicy tables $R/pointmaze-medium/report-success/results.json \
  --digits 2 --name pointmaze-success --update docs/benchmarks/pointmaze.md > /dev/null
genpolicy tables $R/pointmaze-medium/report-success/results.json \
  $R/pointmaze-medium-tune/report-success/results.json --digits 2 \
  --groups bc,iql,gmpo,gmpo-beta-12,gmpo-beta-24,gmpo-critic-warmup-10k,gtp,gtp-eta-10,gtp-critic-warmup-10k,gtp-critic-warmup-10k-precond \
  --name pointmaze-tune-success --update docs/benchmarks/pointmaze.md > /dev/null
genpolicy tables $R/eval_pointmaze_candidates.json --name pointmaze-candidates --update docs/benchmarks/pointmaze.md > /dev/null
genpolicy tables $R/baselines-medium-replay/report/results.json \
  --act-speed $R/act_speed_baselines.json --groups qgpo,idql,srpo,dql,fql,gmpo,gtp,iql \
  --datasets hopper-medium-replay-v5,halfcheetah-medium-replay-v5 \
  --name baselines-medium-replay --update docs/benchmarks/baselines-medium-replay.md > /dev/null
genpolicy tables $R/eval_pointmaze_noise0.json --name pointmaze-noise0 --update docs/benchmarks/pointmaze.md > /dev/null
genpolicy tables $R/baselines-medium-replay/report/results.json \
  $R/gtp-precond-medium-replay/report/results.json --steps 2500,5000,7500,10000 \
  --groups gtp,gtp-precond,gmpo,iql --name gtp-precond --update docs/benchmarks/gtp-precond.md \
  > /dev/null
genpolicy tables $R/ensemble_speed.json --name ensemble-speed --update docs/benchmarks/speed.md > /dev/null
genpolicy tables $R/curves-medium-replay/report/results.json \
  --steps 5000,10000,20000,30000,50000 --name curves-medium-replay --update docs/benchmarks/curves-medium-replay.md > /dev/null
genpolicy tables $R/curves-medium-replay/report/results.json \
  --steps 20000,50000 --target iql --name curves-target --update docs/benchmarks/curves-medium-replay.md \
  > /dev/null
# the README's headline: the shipped configs' rows only
genpolicy tables $R/curves-medium-replay/report/results.json --steps 20000,50000 --target iql \
  --groups "iql,bc,gmpo N=16,gtp N=16,gmpg-adv-clip N=16,gmpg-pretrain-19k-adv-clip N=16" \
  --name headline --update README.md > /dev/null
genpolicy tables $R/eval_mean_readout.json --name mean-readout --update docs/benchmarks/noisy-expert.md > /dev/null
# the learning curves shown on the benchmark page
for f in $R/curves-medium-replay/report/curves_*.png; do
  ds=$(basename "$f" .png | sed 's/^curves_//; s/-medium-replay-v5$//')
  cp "$f" "docs/assets/benchmarks/curves-medium-replay-${ds}.png"
done
genpolicy tables $R/defaults-select/report/results.json --steps 5000,20000 \
  --datasets hopper-noisy-expert-v5,walker2d-noisy-expert-v5,halfcheetah-noisy-expert-v5 \
  --name defaults-imitation --update docs/benchmarks/defaults.md > /dev/null
genpolicy tables $R/defaults-select/report/results.json --steps 5000,20000 \
  --datasets hopper-medium-v5,walker2d-medium-v5,halfcheetah-medium-v5 \
  --name defaults-medium --update docs/benchmarks/defaults.md > /dev/null
genpolicy tables $R/defaults-select/report/results.json $R/defaults-candidates/report/results.json \
  --steps 5000,20000 --groups bc,iql,gmpo,beta0,ess02,ess05,lr1e-3,clone5k,clone5k-ess05 \
  --datasets hopper-noisy-expert-v5,halfcheetah-noisy-expert-v5,walker2d-noisy-expert-v5,hopper-medium-replay-v5 \
  --name defaults-candidates --update docs/benchmarks/defaults.md > /dev/null
genpolicy tables $R/defaults-select/report/results.json $R/defaults-candidates/report/results.json \
  --steps 5000,15000,20000 --groups bc,iql,gmpo,beta0,ess02,ess05,lr1e-3,clone5k-ess05 \
  --datasets hopper-medium-v5,walker2d-medium-v5,halfcheetah-medium-v5 \
  --name defaults-candidates-medium --update docs/benchmarks/defaults.md > /dev/null
genpolicy tables $R/defaults-candidates/acting.json \
  --name defaults-candidates-acting --update docs/benchmarks/defaults.md > /dev/null
genpolicy tables $R/defaults-clone-acting/acting.json \
  --name defaults-clone-acting --update docs/benchmarks/defaults.md > /dev/null
genpolicy tables $R/defaults-confirm-gmpo/report/results.json --steps 5000,20000,50000 \
  --name defaults-confirm-gmpo --update docs/benchmarks/defaults.md > /dev/null
genpolicy tables $R/parity-iql/parity.json --name parity-iql --update docs/benchmarks/parity.md > /dev/null
for f in halfcheetah-medium halfcheetah-medium-replay; do
  genpolicy tables $R/parity-iql/$f/parity.json --name parity-iql-$f \
    --update docs/benchmarks/parity.md > /dev/null
done
for f in hopper-noisy-expert hopper-medium-replay halfcheetah-medium halfcheetah-medium-replay; do
  genpolicy tables $R/parity-bc/$f/parity.json --steps 5000,10000,20000,30000,40000,50000 \
    --name parity-bc-$f --update docs/benchmarks/parity.md > /dev/null
done
echo "tables updated"
