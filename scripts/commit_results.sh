#!/bin/bash
# Stage the finished trials of sweeps (run folders with a summary.json not marked interrupted;
# checkpoints are ignored) and regenerate their reports:
# scripts/commit_results.sh NAME [NAME ...], then git commit.
set -eu
cd "$(dirname "$0")/.."
for name in "$@"; do
  root="benchmarks/results/$name"
  for run in "$root"/runs/*/; do
    [ -f "$run/summary.json" ] || continue
    # The JSON is read, not grepped, so its layout does not matter.
    if python -c 'import json, sys; sys.exit(bool(json.load(open(sys.argv[1])).get("interrupted")))' \
      "$run/summary.json"; then
      git add "$run"
    fi
  done
  genpolicy report "$root/runs" --out "$root/report" > /dev/null
  git add "$root/report"
done
