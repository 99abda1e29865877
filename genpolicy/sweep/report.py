"""``genpolicy report DIR``: tables and plots made from run folders alone.

A run folder is any directory under DIR holding ``config.yaml`` and ``metrics.jsonl``
(``genpolicy train`` writes both). ``summary.json`` marks a finished run; ``trial.json``
(written by the sweep runner) names its group. Runs are grouped by (dataset, group),
seeds being the replicates; every extra ``eval_k{K}/...`` series (the same checkpoints
evaluated with K sampler steps) becomes its own group ``"<group> K=<K>"``, every
``eval_c{N}/...`` series (the best of N sampled actions by Q) a group ``"<group> N=<N>"``.

    from genpolicy.sweep.report import collect_runs, make_report, summarise
    md = make_report("runs")                  # runs/report/report.md, PNGs, results.json/csv
    results = summarise(collect_runs("runs")) # the same numbers as plain data

Every number in ``report.md`` is rendered from the dict written to ``results.json``.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import math
import re
import statistics
import warnings
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from genpolicy.errors import GenpolicyError

DEFAULT_METRIC = "eval/score_mean"
FALLBACK_METRIC = "eval/return_mean"
TOY_DATASET = "toy-bandit"
DATA_SUFFIXES = (".hdf5", ".h5", ".npz")
MAX_STEP_COLUMNS = 6  # columns of the fixed-update table in report.md (results.json has all)
ACTION_STATES = 1000  # states drawn for the toy-bandit action picture
ACTION_SEED = 0
_VARIANT_KEY = re.compile(r"^eval_([kc])(\d+)/")  # eval_k{K}/..., eval_c{N}/...
VARIANT_LABELS = {"k": "K", "c": "N"}  # "<group> K=5": 5 sampler steps; N=16: 16 candidates
_VARIANT_ORDER = {"": 0, "k": 1, "c": 2}  # a base group, its K variants, its N variants

Stat = dict[str, Any]  # {"mean", "std" (None below 2 values), "n", "seeds", "values"}


# -- reading run folders ----------------------------------------------------------------------
@dataclass
class RunRecord:
    """One run folder read back: what it is, its evaluation rows and its training speed."""

    path: Path
    name: str  # the folder relative to the report root
    dataset: str  # label: data.dataset, or its file stem for a path
    group: str  # trial.json's group, else the algorithm name
    algo: str
    seed: int
    status: str  # "finished", "interrupted" (summary.json says so) or "unfinished" (none)
    evals: list[dict[str, Any]]  # eval rows of metrics.jsonl, one per step, by step
    train_steps_per_s: list[float]
    summary: dict[str, Any] | None
    trial: dict[str, Any] | None
    skipped_lines: int = 0

    @property
    def finished(self) -> bool:
        return self.status == "finished"

    @property
    def toy(self) -> bool:
        return self.dataset == TOY_DATASET

    def variants(self) -> list[tuple[str, int]]:
        """The extra evaluations of this run: ("k", K) for each ``eval_k{K}/...`` series (K
        sampler steps), ("c", N) for each ``eval_c{N}/...`` one (N candidates ranked by Q)."""
        found = {
            (m.group(1), int(m.group(2)))
            for row in self.evals
            for key in row
            if (m := _VARIANT_KEY.match(key))
        }
        return sorted(found)

    def ks(self) -> list[int]:
        """Sampler-step counts K of the extra ``eval_k{K}/...`` series in this run."""
        return [n for kind, n in self.variants() if kind == "k"]

    def series(
        self, metric: str, variant: tuple[str, int] | None = None
    ) -> list[tuple[int, float]]:
        """(step, value) of ``metric`` (or a ``variant``'s twin, e.g. ("k", 5) for
        ``eval_k5``, ("c", 16) for ``eval_c16``) where it is a number."""
        key = metric if variant is None else variant_metric(metric, variant)
        out = []
        for row in self.evals:
            v = _num(row.get(key)) if key else None
            if v is not None:
                out.append((int(row["step"]), v))
        return out

    def steps_per_s(self) -> float | None:
        """From summary.json, else the mean of the train rows' ``steps_per_s``."""
        v = _num((self.summary or {}).get("steps_per_s"))
        if v is None and self.train_steps_per_s:
            v = statistics.fmean(self.train_steps_per_s)
        return v

    def train_seconds(self) -> float | None:
        return _num((self.summary or {}).get("train_seconds"))

    @property
    def fingerprint(self) -> str | None:
        """The dataset file's fingerprint that summary.json records (None before it exists)."""
        fp = (self.summary or {}).get("dataset_fingerprint")
        return str(fp) if fp else None


def variant_metric(metric: str, variant: tuple[str, int]) -> str | None:
    """``eval/score_mean`` -> ``eval_c16/score_mean`` for ("c", 16) (None outside eval/)."""
    kind, n = variant
    return f"eval_{kind}{n}/{metric[len('eval/') :]}" if metric.startswith("eval/") else None


def variant_label(base: str, variant: tuple[str, int] | None) -> str:
    """A group's label: ``gtp``, ``gtp K=5`` (5 sampler steps), ``gtp N=16`` (16 candidates)."""
    return base if variant is None else f"{base} {VARIANT_LABELS[variant[0]]}={variant[1]}"


def dataset_label(dataset: str) -> str:
    """A dataset's name in tables: the file stem for a dataset file, else the string."""
    path = Path(dataset)
    return path.stem if path.suffix.lower() in DATA_SUFFIXES else dataset


def collect_runs(root: str | Path) -> list[RunRecord]:
    """Every run folder (``config.yaml`` + ``metrics.jsonl``) under ``root``, recursively."""
    root = Path(root)
    if not root.is_dir():
        raise GenpolicyError(
            f"report directory {root} does not exist; pass the folder that holds run folders "
            "(train.out_dir, e.g. runs/)"
        )
    runs = []
    for metrics in sorted(root.rglob("metrics.jsonl")):
        if (metrics.parent / "config.yaml").is_file():
            rec = _read_run(root, metrics.parent)
            if rec is not None:
                runs.append(rec)
    if not runs:
        raise GenpolicyError(
            f"no run folders (config.yaml + metrics.jsonl) under {root}; point at the folder "
            "the runs were written to (train.out_dir) or train some first with genpolicy train"
        )
    return runs


def _read_run(root: Path, d: Path) -> RunRecord | None:
    cfg = _read_mapping(d / "config.yaml", yaml_file=True)
    if cfg is None:
        warnings.warn(f"{d / 'config.yaml'}: unreadable config; run skipped", stacklevel=3)
        return None
    algo = str(_section(cfg, "algo").get("name", "?"))
    data = str(_section(cfg, "data").get("dataset", "?"))
    seed = _section(cfg, "train").get("seed", 0)
    trial = _read_mapping(d / "trial.json") if (d / "trial.json").exists() else None
    if (d / "trial.json").exists() and trial is None:
        warnings.warn(f"{d / 'trial.json'}: unreadable; grouped by algorithm", stacklevel=3)
    summary = _read_mapping(d / "summary.json") if (d / "summary.json").exists() else None
    if (d / "summary.json").exists() and summary is None:
        warnings.warn(f"{d / 'summary.json'}: unreadable; run treated as unfinished", stacklevel=3)
    group = str((trial or {}).get("group") or algo)
    seed = (trial or {}).get("seed", seed)
    if data == "?" and (trial or {}).get("dataset"):
        data = str((trial or {})["dataset"])

    evals: dict[int, dict[str, Any]] = {}
    sps: list[float] = []
    bad: list[int] = []
    for i, line in enumerate((d / "metrics.jsonl").read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            step = int(row["step"])
        except (ValueError, TypeError, KeyError):
            bad.append(i)
            continue
        if not isinstance(row, dict):
            bad.append(i)
        elif row.get("kind") == "eval":
            evals[step] = row  # a later row for the same step wins
        elif row.get("kind") == "train" and (v := _num(row.get("steps_per_s"))) is not None:
            sps.append(v)
    if bad:
        warnings.warn(
            f"{d / 'metrics.jsonl'}: skipped {len(bad)} corrupt line(s) (first: line {bad[0]})",
            stacklevel=3,
        )
    if not evals and summary:  # no eval rows left in the log: use the summary's rows
        for key in ("best", "last"):
            row = summary.get(key)
            if isinstance(row, dict) and "step" in row:
                evals[int(row["step"])] = row
    if summary is None:
        status = "unfinished"
    else:
        status = "interrupted" if summary.get("interrupted") else "finished"
    try:
        seed = int(seed)
    except (TypeError, ValueError):
        seed = 0
    return RunRecord(
        path=d,
        name=d.relative_to(root).as_posix() or ".",
        dataset=dataset_label(data),
        group=group,
        algo=algo,
        seed=seed,
        status=status,
        evals=[evals[s] for s in sorted(evals)],
        train_steps_per_s=sps,
        summary=summary,
        trial=trial,
        skipped_lines=len(bad),
    )


def _read_mapping(path: Path, yaml_file: bool = False) -> dict[str, Any] | None:
    try:
        text = path.read_text()
        data = yaml.safe_load(text) if yaml_file else json.loads(text)
    except (OSError, ValueError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


def _section(cfg: dict[str, Any], name: str) -> dict[str, Any]:
    sec = cfg.get(name)
    return sec if isinstance(sec, dict) else {}


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = float(v)
    return v if math.isfinite(v) else None


# -- numbers ----------------------------------------------------------------------------------
def stat(pairs: Iterable[tuple[int, float]]) -> Stat:
    """Mean and sample std (n - 1 denominator; None below two values) of (seed, value)."""
    pairs = sorted(pairs)
    values = [v for _, v in pairs]
    return {
        "mean": statistics.fmean(values) if values else None,
        "std": statistics.stdev(values) if len(values) >= 2 else None,
        "n": len(values),
        "seeds": [s for s, _ in pairs],
        "values": values,
    }


Series = list[tuple[RunRecord, list[tuple[int, float]]]]


def _group_series(
    runs: list[RunRecord], metric: str
) -> dict[str, tuple[str, tuple[str, int] | None, Series]]:
    """label -> (base group, variant, [(run, series)]) with base groups before their
    variants (K sampler steps, then N candidates)."""
    keyed: dict[tuple[str, tuple[str, int]], Series] = {}
    for r in runs:
        keyed.setdefault((r.group, ("", -1)), []).append((r, r.series(metric)))
        for v in r.variants():
            if variant_metric(metric, v):
                keyed.setdefault((r.group, v), []).append((r, r.series(metric, v)))
    out = {}
    for (base, v), members in sorted(
        keyed.items(), key=lambda kv: (kv[0][0], _VARIANT_ORDER[kv[0][1][0]], kv[0][1][1])
    ):
        variant = None if v[0] == "" else v
        out[variant_label(base, variant)] = (base, variant, members)
    return out


def _curve(members: list[tuple[RunRecord, list[tuple[int, float]]]]) -> dict[str, list[Any]]:
    """Mean/min/max over runs per eval step. A step that a run went past without evaluating
    it (off the common grid) is skipped, so the mean never switches seeds there; after a
    shorter (unfinished) run ends, the remaining runs carry on."""
    by_step: dict[int, list[float]] = {}
    for _, series in members:
        for step, v in series:
            by_step.setdefault(step, []).append(v)
    reached = [(s[-1][0], {st for st, _ in s}) for _, s in members if s]
    steps = [st for st in sorted(by_step) if all(st in own or end < st for end, own in reached)]
    return {
        "step": steps,
        "mean": [statistics.fmean(by_step[s]) for s in steps],
        "min": [min(by_step[s]) for s in steps],
        "max": [max(by_step[s]) for s in steps],
        "n": [len(by_step[s]) for s in steps],
    }


def _milestones(steps: list[int], limit: int = MAX_STEP_COLUMNS) -> list[int]:
    """A readable subset of eval steps: 1-2-5 round numbers (plus the last), at most limit."""
    if len(steps) <= limit:
        return steps
    nice = [s for s in steps if s > 0 and str(s).rstrip("0") in ("1", "2", "5")]
    cand = sorted(set(nice) | {steps[-1]}) if len(nice) >= 2 else steps
    if len(cand) <= limit:
        return cand
    idx = {round(i * (len(cand) - 1) / (limit - 1)) for i in range(limit)}
    return [cand[i] for i in sorted(idx)]


def summarise(
    runs: list[RunRecord], metric: str = DEFAULT_METRIC, *, root: str | Path | None = None
) -> dict[str, Any]:
    """Every number of the report as plain data (what ``results.json`` holds).

    Per dataset: the metric used (``eval/return_mean`` when ``metric`` is null in every run
    of the dataset), and per group the seeds, last/best stats over finished runs, the metric
    at the eval steps every finished run shares, the learning curve over all runs
    (mean/min/max per step) and the training speed. ``average``: per group, the mean over
    datasets per seed, then mean and std over seeds (seeds present in every dataset).
    """
    if not runs:
        raise GenpolicyError("no runs to summarise; collect_runs(DIR) finds them")
    now = datetime.datetime.now(datetime.UTC)
    from genpolicy import __version__

    meta = {
        "root": str(root) if root is not None else None,
        "root_resolved": str(Path(root).resolve()) if root is not None else None,
        "created": now.strftime("%Y-%m-%d %H:%M UTC"),
        "metric": metric,
        "runs": len(runs),
        "finished": sum(r.finished for r in runs),
        "unfinished": sum(r.status == "unfinished" for r in runs),
        "interrupted": sum(r.status == "interrupted" for r in runs),
        "genpolicy_version": __version__,
    }
    out: dict[str, Any] = {
        "meta": meta,
        "runs": [
            {
                "name": r.name,
                "dataset": r.dataset,
                "group": r.group,
                "algo": r.algo,
                "seed": r.seed,
                "status": r.status,
                "evaluations": len(r.evals),
                "last_step": int(r.evals[-1]["step"]) if r.evals else None,
                "ks": r.ks(),
                "skipped_lines": r.skipped_lines,
                "dataset_fingerprint": r.fingerprint,
            }
            for r in runs
        ],
        "datasets": {},
    }
    for ds in sorted({r.dataset for r in runs}):
        out["datasets"][ds] = _summarise_dataset([r for r in runs if r.dataset == ds], metric)
    out["average"] = _average(out["datasets"], metric)
    return out


def _summarise_dataset(runs: list[RunRecord], metric: str) -> dict[str, Any]:
    used = metric
    if metric != FALLBACK_METRIC and not any(r.series(metric) for r in runs):
        used = FALLBACK_METRIC
    groups: dict[str, Any] = {}
    for label, (base, variant, members) in _group_series(runs, used).items():
        done = [(r, s) for r, s in members if r.finished and s]
        shared = set.intersection(*({st for st, _ in s} for _, s in done)) if done else set()
        at_steps = [
            {"step": st, **stat((r.seed, dict(s)[st]) for r, s in done)} for st in sorted(shared)
        ]
        group_runs = [r for r, _ in members]
        groups[label] = {
            "base": base,
            "k": variant[1] if variant and variant[0] == "k" else None,  # K sampler steps
            "variant": variant_label("", variant).strip() or None,  # "K=5", "N=16" or None
            "runs": len(members),
            "seeds": sorted(r.seed for r, _ in done),
            "left_out": {
                "unfinished": sorted(r.name for r in group_runs if r.status == "unfinished"),
                "interrupted": sorted(r.name for r in group_runs if r.status == "interrupted"),
                "no_evaluations": sorted(r.name for r, s in members if r.finished and not s),
            },
            "final_step": max((s[-1][0] for _, s in done), default=None),
            "last": stat((r.seed, s[-1][1]) for r, s in done),
            "best": stat((r.seed, max(v for _, v in s)) for r, s in done),
            "at_steps": at_steps,
            "curve": _curve([(r, s) for r, s in members if s]),
            "curve_seeds": sorted(r.seed for r, s in members if s),
            "unfinished_in_curve": sum(1 for r, s in members if s and not r.finished),
        }
        if variant is None:
            groups[label]["speed"] = {
                "steps_per_s": stat(
                    (r.seed, v) for r in group_runs if (v := r.steps_per_s()) is not None
                ),
                "train_seconds": stat(  # an interrupted run's seconds are a part of a run
                    (r.seed, v)
                    for r in group_runs
                    if r.finished and (v := r.train_seconds()) is not None
                ),
            }
    columns = sorted({a["step"] for g in groups.values() for a in g["at_steps"]})
    files = Counter(r.fingerprint for r in runs if r.fingerprint)
    return {
        "metric": used,
        "files": dict(files.most_common()),  # dataset fingerprint -> runs, most runs first
        "fallback": used != metric,
        "runs": len(runs),
        "left_out": sum(1 for r in runs if not r.finished),
        "step_columns": _milestones(columns),
        "groups": groups,
    }


def _average(datasets: dict[str, Any], metric: str) -> dict[str, Any]:
    names = [ds for ds, d in datasets.items() if not d["fallback"] and ds != TOY_DATASET]
    out: dict[str, Any] = {"metric": metric, "datasets": names, "groups": {}, "omitted": {}}
    if len(names) < 2:
        out["note"] = f"fewer than two datasets (other than {TOY_DATASET}) report the metric"
        return out
    labels = sorted({g for ds in names for g in datasets[ds]["groups"]}, key=_label_key)
    for label in labels:
        missing = [ds for ds in names if not datasets[ds]["groups"].get(label, {}).get("seeds")]
        if missing:
            out["omitted"][label] = f"no finished runs on {', '.join(missing)}"
            continue
        entry: dict[str, Any] = {}
        for which in ("last", "best"):
            per_ds = []
            for ds in names:
                st = datasets[ds]["groups"][label][which]
                by_seed: dict[int, list[float]] = {}
                for s, v in zip(st["seeds"], st["values"], strict=True):
                    by_seed.setdefault(s, []).append(v)
                per_ds.append({s: statistics.fmean(v) for s, v in by_seed.items()})
            common = sorted(set.intersection(*(set(p) for p in per_ds)))
            entry[which] = stat((s, statistics.fmean(p[s] for p in per_ds)) for s in common)
        if not entry["last"]["n"]:
            out["omitted"][label] = "no seed is present in every dataset"
            continue
        entry["seeds"] = entry["last"]["seeds"]
        out["groups"][label] = entry
    return out


def _label_key(label: str) -> tuple[str, int, int]:
    for kind, name in VARIANT_LABELS.items():
        base, _, n = label.rpartition(f" {name}=")
        if base and n.isdigit():
            return (base, _VARIANT_ORDER[kind], int(n))
    return (label, 0, -1)


# -- pictures ---------------------------------------------------------------------------------
def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "dataset"


def _metric_label(d: dict[str, Any], metric: str) -> str:
    used = d["metric"]
    name = "normalised score" if used.endswith("score_mean") else used.split("/")[-1]
    label = f"{name} ({used})"
    if d["fallback"]:
        label += f"\n{metric} is null in every run"
    return label


def plt_colormap(name: str) -> Any:
    import matplotlib

    return matplotlib.colormaps[name]


def plot_curves(ds: str, d: dict[str, Any], metric: str, path: Path, title: str | None) -> None:
    """Mean over seeds per eval step, band min..max over seeds, one line per group."""
    fig = _figure(9.5, 4.8)
    ax = fig.add_subplot()
    colours: dict[str, Any] = {}
    bases = list(dict.fromkeys(g["base"] for g in d["groups"].values()))
    cmap = plt_colormap("tab10" if len(bases) <= 10 else "tab20")
    styles = ["--", ":", "-."]
    for label, g in d["groups"].items():
        c = g["curve"]
        if not c["step"]:
            continue
        colour = colours.setdefault(g["base"], cmap(bases.index(g["base"]) % cmap.N))
        style = "-"
        if g.get("variant"):
            mine = [x["variant"] for x in d["groups"].values() if x["base"] == g["base"]]
            style = styles[[v for v in mine if v].index(g["variant"]) % len(styles)]
        n = len(g["curve_seeds"])
        extra = f", {g['unfinished_in_curve']} unfinished" if g["unfinished_in_curve"] else ""
        ax.plot(
            c["step"],
            c["mean"],
            color=colour,
            linestyle=style,
            label=f"{label} ({n} seed{'s' if n != 1 else ''}{extra})",
        )
        ax.fill_between(c["step"], c["min"], c["max"], color=colour, alpha=0.15, linewidth=0)
    ax.set_xlabel("updates")
    ax.set_ylabel(_metric_label(d, metric))
    ax.set_title(f"{title}: {ds}" if title else ds)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def action_pictures(runs: list[RunRecord], out: Path) -> dict[str, Any]:
    """Toy-bandit runs: the first seed of each group acting on behaviour states (PNG + mode
    fractions); a group whose checkpoint cannot be loaded gets a note instead."""
    toy = [r for r in runs if r.toy]
    if not toy:
        return {}
    import torch

    from genpolicy import toy_bandit
    from genpolicy.checkpoint import exists, load_policy

    arr = toy_bandit.behaviour_arrays(ACTION_STATES, ACTION_SEED)
    obs, behaviour = arr["observations"], arr["actions"]
    obs_t = torch.as_tensor(obs)
    result: dict[str, Any] = {
        "states": ACTION_STATES,
        "state_seed": ACTION_SEED,
        "behaviour": toy_bandit.mode_fractions(obs_t, torch.as_tensor(behaviour)),
        "groups": {},
        "png": None,
    }
    panels = []
    for group in sorted({r.group for r in toy}):
        members = sorted(
            (r for r in toy if r.group == group),
            key=lambda r: (not r.finished, r.seed, r.name),
        )
        run = next((r for r in members if exists(r.path, "last")), None)
        if run is None:
            result["groups"][group] = {"skipped": "no checkpoints/last in any of its runs"}
            continue
        try:
            algo, _, _ = load_policy(run.path)
            algo.seed_acting(ACTION_SEED)
            act = algo.act(obs)
        except Exception as exc:  # noqa: BLE001 - any failure only skips this picture
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            result["groups"][group] = {"skipped": f"cannot load {run.name}: {msg}"}
            continue
        fractions = toy_bandit.mode_fractions(obs_t, torch.as_tensor(act))
        result["groups"][group] = {"run": run.name, "seed": run.seed, **fractions}
        panels.append((group, run, act))
    if panels:
        best1 = obs[:, 1] >= 0  # the rewarding mode is 1 there, else 2
        fig = _figure(max(5.0, 3.6 * len(panels)), 4.3)
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, (group, run, act) in zip(axes, panels, strict=True):
            ax.scatter(behaviour[:, 0], behaviour[:, 1], s=3, c="0.7", label="behaviour data")
            ax.scatter(act[best1, 0], act[best1, 1], s=3, c="C0", label="policy (best mode 1)")
            ax.scatter(act[~best1, 0], act[~best1, 1], s=3, c="C3", label="policy (best mode 2)")
            ax.set_xlim(-1, 1)
            ax.set_ylim(-1, 1)
            ax.set_aspect("equal")
            ax.set_title(f"{group} (seed {run.seed})", fontsize=9)
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=7, markerscale=3)
        fig.tight_layout(rect=(0, 0.07, 1, 1))
        name = "actions_toy-bandit.png"
        fig.savefig(out / name, dpi=110)
        result["png"] = name
    return result


# -- writing ----------------------------------------------------------------------------------
def _f(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _cell(st: Stat | None, digits: int = 1) -> str:
    if not st or not st["n"]:
        return "—"
    if st["std"] is None:
        return f"{_f(st['mean'], digits)} (n=1)"
    return f"{_f(st['mean'], digits)} ± {_f(st['std'], digits)}"


def _steps(n: int) -> str:
    for div, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= div and n % (div // 10) == 0:
            return f"{n / div:g}{suffix}"
    return str(n)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return lines + [""]


def render_markdown(results: dict[str, Any], title: str | None = None) -> str:
    """report.md from the results dict (no number is typed in by hand)."""
    m = results["meta"]
    root = m["root"] if m["root"] == m["root_resolved"] else f"{m['root']} ({m['root_resolved']})"
    lines = [
        f"# {title or 'genpolicy report'}",
        "",
        f"Made by `genpolicy report` on {m['created']} (genpolicy {m['genpolicy_version']}) "
        f"from the {m['runs']} run folders under `{root}`: {m['finished']} finished, "
        f"{m['unfinished']} unfinished (no summary.json), {m['interrupted']} interrupted. "
        f"Metric: `{m['metric']}`. All numbers are in `results.json` / `results.csv`.",
        "",
        "How the numbers are made: a group is one configuration on one dataset; its seeds are "
        "the replicates. **last** is each run's final evaluation, **best** its best "
        "evaluation; a cell is the mean ± the sample standard deviation over seeds "
        "(n - 1 denominator), or the mean and (n=1) for a single seed. Unfinished and "
        "interrupted runs are drawn in the curves but left out of every table. "
        "`<group> K=<K>` is the same checkpoints evaluated with K sampler steps, "
        "`<group> N=<N>` with the best of N sampled actions by the critic's Q. "
        "Curves: the line is the mean over seeds at each evaluation, the band spans the "
        "minimum to the maximum over seeds (steps that only some runs evaluated are skipped). "
        f"{TOY_DATASET} is left out of the average over datasets.",
        "",
    ]
    for ds, d in results["datasets"].items():
        lines += [f"## {ds}", ""]
        if d.get("plot"):
            lines += [
                f"![learning curves on {ds}]({d['plot']})",
                "",
                f"*{d['metric']} against updates on {ds}: mean over seeds (line) and "
                "min..max over seeds (band); the legend counts seeds.*",
                "",
            ]
        if d["fallback"]:
            lines += [f"`{m['metric']}` is null in every run here: `{d['metric']}` is shown.", ""]
        if d["left_out"]:
            lines += [
                f"{d['left_out']} run(s) left out of the tables (unfinished or interrupted).",
                "",
            ]
        if len(d.get("files", {})) > 1:
            counts = ", ".join(f"`{fp}` {n}" for fp, n in d["files"].items())
            lines += [
                f"**These runs were trained on {len(d['files'])} different files of {ds}** "
                f"(dataset fingerprint: runs; {counts}): a cell's seeds mix data draws. "
                "The Runs list at the end says which run used which file.",
                "",
            ]
        rows = [
            [label, str(g["last"]["n"]), _cell(g["last"]), _cell(g["best"]), _steps_or(g)]
            for label, g in d["groups"].items()
        ]
        lines += [f"### Last and best ({d['metric']})", ""]
        lines += _table(["group", "seeds", "last", "best", "final update"], rows)
        cols = d["step_columns"]
        if cols:
            lines += [
                f"### {d['metric']} at fixed update counts",
                "",
                "Evaluation steps shared by every finished run of the group; "
                "— where the group's runs do not all have that step.",
                "",
            ]
            rows = []
            for label, g in d["groups"].items():
                at = {a["step"]: a for a in g["at_steps"]}
                rows.append([label, str(g["last"]["n"])] + [_cell(at.get(c)) for c in cols])
            lines += _table(["group", "seeds"] + [_steps(c) for c in cols], rows)
    avg = results["average"]
    if avg["groups"] or avg["omitted"]:
        lines += [
            "## Average over datasets",
            "",
            f"`{avg['metric']}` averaged over {', '.join(avg['datasets'])} for each seed, then "
            "mean ± sample std over the seeds present in every dataset.",
            "",
        ]
        rows = [
            [label, str(g["last"]["n"]), _cell(g["last"]), _cell(g["best"])]
            for label, g in avg["groups"].items()
        ]
        lines += _table(["group", "seeds", "last", "best"], rows)
        for label, why in avg["omitted"].items():
            lines += [f"- {label} omitted: {why}"]
        if avg["omitted"]:
            lines += [""]
    lines += [
        "## Training speed",
        "",
        "Updates per second (summary.json, else the mean of the logged rates) and training "
        "seconds (finished runs), mean ± std over runs.",
        "",
    ]
    rows = []
    for ds, d in results["datasets"].items():
        for label, g in d["groups"].items():
            if "speed" in g:
                sp = g["speed"]
                rows.append(
                    [
                        ds,
                        label,
                        str(sp["steps_per_s"]["n"]),
                        _cell(sp["steps_per_s"]),
                        _cell(sp["train_seconds"], 0),
                    ]
                )
    lines += _table(["dataset", "group", "runs", "updates/s", "train seconds"], rows)
    act = results.get("actions") or {}
    if act:
        lines += [
            "## Toy bandit: sampled actions",
            "",
            f"Actions of each group's first seed for {act['states']} behaviour states "
            f"(seed {act['state_seed']}), over the behaviour actions (grey). Colour: which "
            "mode rewards the state. Fractions: actions within reach of the rewarding mode, "
            "of the behaviour's favourite mode 0, and of no mode.",
            "",
        ]
        if act.get("png"):
            lines += [f"![toy-bandit actions]({act['png']})", ""]
        b = act["behaviour"]
        rows = [["behaviour data", "—", _f(b["best"], 2), _f(b["mode0"], 2), _f(b["none"], 2)]]
        notes = []
        for group, g in act["groups"].items():
            if "skipped" in g:
                notes.append(f"- {group}: skipped ({g['skipped']})")
            else:
                rows.append(
                    [group, str(g["seed"]), _f(g["best"], 2), _f(g["mode0"], 2), _f(g["none"], 2)]
                )
        lines += _table(["", "seed", "best mode", "mode 0", "no mode"], rows)
        lines += notes + ([""] if notes else [])
    lines += ["## Runs", "", "<details><summary>every run folder</summary>", ""]
    rows = [
        [
            r["name"],
            r["dataset"],
            r["group"],
            str(r["seed"]),
            r["status"],
            str(r["evaluations"]),
            "—" if r["last_step"] is None else str(r["last_step"]),
            r.get("dataset_fingerprint") or "—",
        ]
        for r in results["runs"]
    ]
    header = ["run", "dataset", "group", "seed", "status", "evaluations", "last step", "data"]
    lines += _table(header, rows)
    lines += ["</details>", ""]
    return "\n".join(lines)


def _steps_or(g: dict[str, Any]) -> str:
    return "—" if g["final_step"] is None else str(g["final_step"])


def write_csv(results: dict[str, Any], path: Path) -> None:
    """One row per table cell: table, dataset, group, key, mean, std, n, seeds."""
    fields = ["table", "dataset", "group", "key", "metric", "mean", "std", "n", "seeds"]
    rows: list[dict[str, Any]] = []

    def add(table: str, ds: str, group: str, key: Any, metric: str, st: Stat) -> None:
        seeds = " ".join(str(s) for s in st["seeds"])
        values = [table, ds, group, key, metric, st["mean"], st["std"], st["n"], seeds]
        rows.append(dict(zip(fields, values, strict=True)))

    for ds, d in results["datasets"].items():
        for label, g in d["groups"].items():
            add("last", ds, label, "last", d["metric"], g["last"])
            add("best", ds, label, "best", d["metric"], g["best"])
            for a in g["at_steps"]:
                add("at_step", ds, label, a["step"], d["metric"], a)
            for key, st in g.get("speed", {}).items():
                add("speed", ds, label, key, key, st)
    avg = results["average"]
    for label, g in avg["groups"].items():
        for which in ("last", "best"):
            add("average", "+".join(avg["datasets"]), label, which, avg["metric"], g[which])
    for group, g in (results.get("actions") or {}).get("groups", {}).items():
        for key in ("best", "mode0", "mode1", "mode2", "none"):
            if key in g:
                add("actions", TOY_DATASET, group, key, "fraction", stat([(g["seed"], g[key])]))
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def make_report(
    root: str | Path,
    out: str | Path | None = None,
    metric: str = DEFAULT_METRIC,
    title: str | None = None,
) -> Path:
    """Write report.md, its PNGs, results.json and results.csv; return report.md's path."""
    root = Path(root)
    out = Path(out) if out is not None else root / "report"
    runs = collect_runs(root)
    results = summarise(runs, metric, root=root)
    results["meta"]["title"] = title
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GenpolicyError(f"cannot create report folder {out}: {exc.strerror}") from None
    for ds, d in results["datasets"].items():
        if any(g["curve"]["step"] for g in d["groups"].values()):
            d["plot"] = f"curves_{_slug(ds)}.png"
            plot_curves(ds, d, metric, out / d["plot"], title)
    results["actions"] = action_pictures(runs, out)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    write_csv(results, out / "results.csv")
    md = out / "report.md"
    md.write_text(render_markdown(results, title))
    return md


# -- command line -----------------------------------------------------------------------------
def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="tables and learning curves from a folder of run folders",
        description="Read every run folder (config.yaml + metrics.jsonl) under DIR and write "
        "report.md with learning curves, last/best and fixed-update tables, training speed "
        "and (toy bandit) action pictures, plus results.json and results.csv.",
    )
    p.add_argument("dir", help="folder searched recursively for run folders (e.g. runs/)")
    p.add_argument("--out", default=None, help="output folder (default: DIR/report)")
    p.add_argument(
        "--metric",
        default=DEFAULT_METRIC,
        help=f"eval metric to tabulate (default: {DEFAULT_METRIC}; {FALLBACK_METRIC} is used "
        "for a dataset where it is null in every run)",
    )
    p.add_argument("--title", default=None, help="report title")
    p.set_defaults(func=_report)


def _report(args: argparse.Namespace) -> int:
    md = make_report(args.dir, args.out, args.metric, args.title)
    print(md)
    return 0
