"""GMPG's policy-gradient phase, read pairwise: the behaviour model's score before it and the
policy's score after it, per dataset, seed and variant.

    python benchmarks/gmpg_pg_phase.py [--pretrain benchmarks/results/gmpg-pretrain] \
        [--pg benchmarks/results/gmpg-pg] [--out benchmarks/results/gmpg_pg_phase.json]

"Before" is the last evaluation of the pretraining run (``gmpg-pretrain.yaml``: the
behaviour model after 10k updates); "after" is the last evaluation of the policy-gradient
run that started from that run's checkpoint (``gmpg-pg.yaml``, ``train.init_from``). Both
use the same evaluation seeds and episode count, so the difference is the phase's effect
plus the policy's own sampling noise. Only finished runs are read.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any


def last_score(run: Path) -> float | None:
    summary = run / "summary.json"
    if not summary.is_file():
        return None
    s = json.loads(summary.read_text())
    if s.get("interrupted") or not s.get("last"):
        return None
    return float(s["last"]["eval/score_mean"])


def collect(pretrain: Path, pg: Path) -> dict[str, Any]:
    pairs: list[dict[str, Any]] = []
    for run in sorted((pg / "runs").iterdir()):
        trial = (
            json.loads((run / "trial.json").read_text()) if (run / "trial.json").is_file() else {}
        )
        params = trial.get("params", {})
        dataset, seed, variant = params.get("dataset"), params.get("seed"), params.get("variant")
        after = last_score(run)
        before = last_score(pretrain / "runs" / f"{dataset}-s{seed}")
        if None in (dataset, seed, variant, after, before):
            continue
        assert after is not None and before is not None
        pairs.append(
            {
                "dataset": dataset,
                "seed": seed,
                "variant": variant,
                "before": before,
                "after": after,
                "delta": after - before,
            }
        )
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for p in pairs:
        groups.setdefault((p["dataset"], p["variant"]), []).append(p)
    summary = []
    for (dataset, variant), ps in sorted(groups.items()):
        deltas = [p["delta"] for p in ps]
        summary.append(
            {
                "dataset": dataset,
                "variant": variant,
                "seeds": len(ps),
                "before": statistics.fmean(p["before"] for p in ps),
                "after": statistics.fmean(p["after"] for p in ps),
                "delta": statistics.fmean(deltas),
                "delta_std": statistics.stdev(deltas) if len(deltas) > 1 else None,
                "raised": sum(d > 0 for d in deltas),
            }
        )
    return {"pairs": pairs, "summary": summary}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pretrain", default="benchmarks/results/gmpg-pretrain")
    ap.add_argument("--pg", default="benchmarks/results/gmpg-pg")
    ap.add_argument("--out", default="benchmarks/results/gmpg_pg_phase.json")
    args = ap.parse_args()
    result = collect(Path(args.pretrain), Path(args.pg))
    Path(args.out).write_text(json.dumps(result, indent=1))
    for row in result["summary"]:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
