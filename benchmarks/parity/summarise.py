"""A parity benchmark's summary from its raw results: the peer's JSON lines (one per
evaluation, as the adapters in ``peers/`` append them) and genpolicy's run folders.

    python benchmarks/parity/summarise.py benchmarks/parity/specs/bc-hopper-noisy-expert.yaml \
        --peer-log d3rlpy-bc-hne.jsonl --runs runs \
        --out benchmarks/results/parity-bc/hopper-noisy-expert

The spec (YAML) names the question, the dataset, the budget, the peer's side and which of
its lines belong to the benchmark (``peer.match``: keys every line must have with these
values), and each genpolicy side's run folders (a glob under ``--runs``) with the command
that trains one. Writes ``OUT/parity.json`` (``genpolicy tables`` renders it: each side's
normalised score at each evaluation, mean ± std over seeds, the difference from the peer at
the last evaluation and averaged over the evaluations, paired by seed, and each side's updates
per second), ``OUT/parity.png``
(the curves: each side's mean with one std) and ``OUT/peer-<side>.jsonl`` (the peer's lines
that were used). Only evaluations at multiples of the spec's ``every`` are kept, the same
steps on every side.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import statistics
import sys
from pathlib import Path
from typing import Any

import yaml

from genpolicy.errors import GenpolicyError
from genpolicy.experiments.report.plots import palette_png
from genpolicy.experiments.report.runs import collect_runs

SPEC_KEYS = {"name", "question", "dataset", "budget", "every", "peer", "sides"}


def load_spec(path: Path) -> dict[str, Any]:
    """The spec at ``path``, checked: every key present, ``every`` a positive integer, each
    side with its ``runs`` glob and ``command``."""
    try:
        spec = yaml.safe_load(path.read_text())
    except OSError:
        raise GenpolicyError(f"{path}: no such spec file") from None
    except yaml.YAMLError as e:
        raise GenpolicyError(f"{path}: not YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(spec, dict):
        raise GenpolicyError(f"{path}: a spec is a mapping with keys {sorted(SPEC_KEYS)}")
    missing = sorted(SPEC_KEYS - set(spec))
    if missing:
        raise GenpolicyError(f"{path}: missing {', '.join(missing)}")
    if not isinstance(spec["every"], int) or spec["every"] < 1:
        raise GenpolicyError(f"{path}: every must be a positive number of updates")
    peer = spec["peer"]
    if not isinstance(peer, dict) or not {"side", "source", "match", "command"} <= set(peer):
        raise GenpolicyError(f"{path}: peer needs side, source, match and command")
    sides = spec["sides"]
    if not isinstance(sides, dict) or not sides:
        raise GenpolicyError(f"{path}: sides maps each genpolicy side to its runs and command")
    for name, side in sides.items():
        if not isinstance(side, dict) or not {"runs", "command"} <= set(side):
            raise GenpolicyError(f"{path}: side {name!r} needs runs (a glob) and command")
    return spec


def peer_rows(
    spec: dict[str, Any], log: Path
) -> tuple[list[dict[str, Any]], list[str], float | None]:
    """The peer's evaluations (rows of the summary), the raw lines they came from, and its
    updates per second (the mean over seeds of each seed's last line)."""
    peer = spec["peer"]
    try:
        text = log.read_text()
    except OSError:
        raise GenpolicyError(f"{log}: no such peer log (the adapter's --out file)") from None
    rows: list[dict[str, Any]] = []
    lines: list[str] = []
    last: dict[int, dict[str, Any]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            j = json.loads(line)
        except json.JSONDecodeError:
            raise GenpolicyError(f"{log}:{n}: not a JSON line") from None
        if not isinstance(j, dict) or any(j.get(k) != v for k, v in peer["match"].items()):
            continue
        lacking = [k for k in ("seed", "step", "score_mean") if k not in j]
        if lacking:
            raise GenpolicyError(f"{log}:{n}: a matching line without {', '.join(lacking)}")
        lines.append(line)
        seed, step = int(j["seed"]), int(j["step"])
        if seed not in last or step >= last[seed]["step"]:
            last[seed] = j
        if step % spec["every"] == 0:
            rows.append(row(peer["side"], seed, step, j["score_mean"], j.get("score_std")))
    if not rows:
        raise GenpolicyError(f"{log}: no line matches the spec's peer.match {peer['match']}")
    speed = [float(j["updates_per_s"]) for j in last.values() if "updates_per_s" in j]
    return rows, lines, round(statistics.fmean(speed), 1) if speed else None


def row(side: str, seed: int, step: int, mean: float, std: float | None) -> dict[str, Any]:
    out: dict[str, Any] = {"side": side, "seed": seed, "updates": step}
    out["score_mean"] = round(float(mean), 2)
    out["score_std"] = None if std is None else round(float(std), 2)
    return out


def genpolicy_rows(
    spec: dict[str, Any], runs: Path
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Each genpolicy side's evaluations, read from its run folders under ``runs`` (those
    whose name matches the side's glob), and its updates per second (the mean over its
    finished runs of their training time less the evaluations during it, as a peer times
    only its updates)."""
    records = collect_runs(runs)
    rows: list[dict[str, Any]] = []
    rates: dict[str, float] = {}
    for side, s in spec["sides"].items():
        mine = [r for r in records if fnmatch.fnmatchcase(r.name, s["runs"])]
        if not mine:
            raise GenpolicyError(f"{runs}: no run folder matches {s['runs']!r} (side {side!r})")
        for r in mine:
            for e in r.evals:
                if e["step"] % spec["every"] == 0 and "eval/score_mean" in e:
                    std = e.get("eval/score_std")
                    rows.append(row(side, r.seed, e["step"], e["eval/score_mean"], std))
        speeds = [v for r in mine if r.finished and (v := r.updates_per_s()) is not None]
        if speeds:
            rates[side] = round(statistics.fmean(speeds), 1)
    return rows, rates


def curves_png(result: dict[str, Any], out: Path) -> None:
    """Each side's mean score against updates, with a band of one std over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    sides = [result["peer_side"]] + sorted(
        {r["side"] for r in result["rows"]} - {result["peer_side"]}
    )
    for side in sides:
        steps = sorted({r["updates"] for r in result["rows"] if r["side"] == side})
        xs = [
            [r["score_mean"] for r in result["rows"] if (r["side"], r["updates"]) == (side, u)]
            for u in steps
        ]
        mean = [statistics.fmean(x) for x in xs]
        sd = [statistics.stdev(x) if len(x) > 1 else 0.0 for x in xs]
        (line,) = ax.plot(steps, mean, marker="o", label=side)
        lo = [m - s for m, s in zip(mean, sd, strict=True)]
        hi = [m + s for m, s in zip(mean, sd, strict=True)]
        ax.fill_between(steps, lo, hi, color=line.get_color(), alpha=0.2)
    ax.set_xlabel("updates")
    ax.set_ylabel("normalised score")
    ax.set_title(f"{result['name']}: {result['dataset']}", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)
    palette_png(out)


def summarise(spec_path: Path, peer_log: Path, runs: Path, out: Path, note: str) -> dict[str, Any]:
    spec = load_spec(spec_path)
    peer_part, lines, peer_speed = peer_rows(spec, peer_log)
    ours, rates = genpolicy_rows(spec, runs)
    if peer_speed is not None:
        rates = {spec["peer"]["side"]: peer_speed} | rates
    result: dict[str, Any] = {
        "name": spec["name"],
        "question": spec["question"],
        "dataset": spec["dataset"],
        "budget": spec["budget"],
        "peer_side": spec["peer"]["side"],
        "peer_source": spec["peer"]["source"],
        "commands": {spec["peer"]["side"]: spec["peer"]["command"]}
        | {side: s["command"] for side, s in spec["sides"].items()},
        "seeds": {
            side: sorted({r["seed"] for r in peer_part + ours if r["side"] == side})
            for side in [spec["peer"]["side"], *spec["sides"]]
        },
        "device": note,
        "rows": peer_part + ours,
        "updates_per_s": rates,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "parity.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / f"peer-{spec['peer']['side']}.jsonl").write_text("\n".join(lines) + "\n")
    curves_png(result, out / "parity.png")
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("spec", type=Path, help="the benchmark's spec (YAML)")
    p.add_argument("--peer-log", type=Path, required=True, help="the peer adapter's JSON lines")
    p.add_argument("--runs", type=Path, required=True, help="folder of genpolicy's run folders")
    p.add_argument("--out", type=Path, required=True, help="folder for the summary")
    p.add_argument(
        "--note",
        default="CPU, one torch thread per run",
        help="how the runs were measured (device, threads, what shared the machine)",
    )
    a = p.parse_args(argv)
    try:
        result = summarise(a.spec, a.peer_log, a.runs, a.out, a.note)
    except GenpolicyError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    n = len({(r["side"], r["seed"]) for r in result["rows"]})
    print(f"wrote {a.out / 'parity.json'}: {len(result['rows'])} evaluations of {n} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
