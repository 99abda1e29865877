#!/bin/bash
# The Hopper-v5 medium comparison of docs/rl.md on a 2-core CPU: two lanes of runs in parallel,
# one torch thread each. Results: runs/cpu-hopper/<run>/summary.json (and metrics.csv).
set -u
cd "$(dirname "$0")/../.."
SEEDS=${SEEDS:-"0 1 2"}
lane() {  # seed-major order, so that a complete one-seed table exists early
  for s in $SEEDS; do
    for algo in "$@"; do
      genpolicy train "configs/cpu/hopper-medium-$algo.yaml" --set train.seed="$s" \
        --set train.run_name="$algo-hopper-medium-v5-s$s" --overwrite
    done
  done
}
lane gmpo iql > logs/cpu_hopper_lane1.log 2>&1 &
lane gmpg bc > logs/cpu_hopper_lane2.log 2>&1 &
wait
python - <<'PY'
import json, pathlib, statistics as st
rows = {}
for f in sorted(pathlib.Path("runs/cpu-hopper").glob("*/summary.json")):
    s = json.loads(f.read_text())
    rows.setdefault(s["algo"], []).append(s)
for algo, ss in rows.items():
    last = [s["last"]["eval/score_mean"] for s in ss if s.get("last")]
    best = [s["best"]["eval/score_mean"] for s in ss if s.get("best")]
    sps = [s["steps_per_s"] for s in ss]
    def ms(x): return f"{st.mean(x):.1f} +- {st.pstdev(x):.1f}" if x else "-"
    print(f"{algo}: seeds {len(ss)}, last {ms(last)}, best {ms(best)}, steps/s {st.mean(sps):.1f}")
PY
