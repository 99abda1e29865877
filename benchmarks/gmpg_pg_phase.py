"""GMPG's policy-gradient phase, read pairwise: the behaviour model's score before it and the
policy's score after it, per dataset, seed and variant.

    python benchmarks/gmpg_pg_phase.py [--pretrain benchmarks/results/gmpg-pretrain] \
        [--pg benchmarks/results/gmpg-pg] [--out benchmarks/results/gmpg_pg_phase.json] \
        [--episodes N [--dataset NAME]]

"Before" is the last evaluation of the pretraining run (``gmpg-pretrain.yaml``: the
behaviour model after 10k updates); "after" is the last evaluation of the policy-gradient
run that started from that run's checkpoint (``gmpg-pg.yaml``, ``train.init_from``). Both
use the same evaluation seeds and episode count, so the difference is the phase's effect
plus the policy's own sampling noise. Only finished runs are read.

With ``--episodes N`` both sides are evaluated again here, from the runs' last checkpoints,
on N episodes with the runs' evaluation seed (a 20-episode hopper score moves by 10-20
points with the sampler's draw alone, docs/algorithms/index.md); each score is kept in the output's
``evals`` and reused when the script runs again. ``--dataset`` limits it to one dataset.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genpolicy.experiments.jsonio import compact_json


def last_score(run: Path) -> float | None:
    summary = run / "summary.json"
    if not summary.is_file():
        return None
    s = json.loads(summary.read_text())
    if s.get("interrupted") or not s.get("last"):
        return None
    return float(s["last"]["eval/score_mean"])


def evaluated_score(
    run: Path, episodes: int, cache: dict[str, float], save: Callable[[], None] | None = None
) -> float | None:
    """The score of ``run``'s last checkpoint on ``episodes`` episodes (its eval seed)."""
    if last_score(run) is None:  # unfinished
        return None
    key = f"{run}@{episodes}"
    if key not in cache:
        from genpolicy.training.policy import load_policy

        res = load_policy(run).evaluate(episodes)
        if res.score_mean is None:
            raise SystemExit(f"{run}: its task has no D4RL score normalisation")
        cache[key] = float(res.score_mean)
        print(f"{key}: {cache[key]:.1f} ({res.seconds:.0f} s)", flush=True)
        if save is not None:
            save()
    return cache[key]


def collect(
    pretrain: Path,
    pg: Path,
    episodes: int = 0,
    dataset_only: str | None = None,
    cache: dict[str, float] | None = None,
    save: Callable[[], None] | None = None,
) -> dict[str, Any]:
    cache = {} if cache is None else cache

    def score(run: Path) -> float | None:
        return evaluated_score(run, episodes, cache, save) if episodes else last_score(run)

    pairs: list[dict[str, Any]] = []
    for run in sorted((pg / "runs").iterdir()):
        trial = (
            json.loads((run / "trial.json").read_text()) if (run / "trial.json").is_file() else {}
        )
        params = trial.get("params", {})
        dataset, seed, variant = params.get("dataset"), params.get("seed"), params.get("variant")
        if None in (dataset, seed, variant) or dataset_only not in (None, dataset):
            continue
        after = score(run)
        before = score(pretrain / "runs" / f"{dataset}-s{seed}")
        if after is None or before is None:
            continue
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
    out: dict[str, Any] = {"pairs": pairs, "summary": summary}
    if episodes:
        out.update(episodes=episodes, evals=cache)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pretrain", default="benchmarks/results/gmpg-pretrain")
    ap.add_argument("--pg", default="benchmarks/results/gmpg-pg")
    ap.add_argument("--out", default="benchmarks/results/gmpg_pg_phase.json")
    ap.add_argument("--episodes", type=int, default=0, help="evaluate again on N episodes")
    ap.add_argument("--dataset", default=None, help="only this dataset's pairs")
    args = ap.parse_args()
    out = Path(args.out)
    cache = json.loads(out.read_text()).get("evals", {}) if out.is_file() else {}

    def save() -> None:  # each new evaluation, so an interrupted run keeps what it measured
        kept = json.loads(out.read_text()) if out.is_file() else {}
        out.write_text(compact_json({**kept, "evals": cache}))

    result = collect(Path(args.pretrain), Path(args.pg), args.episodes, args.dataset, cache, save)
    out.write_text(compact_json(result))
    for row in result["summary"]:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
