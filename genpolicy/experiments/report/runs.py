"""Reading runs back: each becomes a ``RunRecord`` (what it is, its evaluation rows, its
training speed). A run folder is any directory holding ``config.yaml`` and
``metrics.jsonl``; ``summary.json`` marks a finished run and ``trial.json`` names its group.
A report's ``results.json`` holds every run it was made from (its ``runs`` list), so the
records can also be rebuilt from that file once the run folders are gone."""

from __future__ import annotations

import json
import math
import re
import statistics
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from genpolicy.errors import GenpolicyError
from genpolicy.training.logger import read_rows

DEFAULT_METRIC = "eval/score_mean"
FALLBACK_METRIC = "eval/return_mean"
TOY_DATASET = "toy-bandit"
DATA_SUFFIXES = (".hdf5", ".h5", ".npz")
MAX_STEP_COLUMNS = 6  # columns of the fixed-update table in report.md (results.json has all)
ACTION_STATES = 1000  # states drawn for the toy-bandit action picture
ACTION_SEED = 0
_VARIANT_KEY = re.compile(r"^eval_([kc])(\d+)/")  # eval_k{K}/..., eval_c{N}/...
VARIANT_LABELS = {"k": "K", "c": "N"}  # "<group> K=5": 5 sampler steps; N=16: 16 candidates
VARIANT_ORDER = {"": 0, "k": 1, "c": 2}  # a base group, its K variants, its N variants

Stat = dict[str, Any]  # {"mean", "std" (None below 2 values), "n", "seeds", "values"}


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
    config: dict[str, Any] | None = None  # config.yaml as read (None: not recorded)

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

    def updates_per_s(self) -> float | None:
        """Updates per second of training time less the evaluations made during training
        (their ``*/seconds``; the final one is outside ``train_seconds``): the rate a peer
        that times only its updates reports. None before summary.json exists."""
        steps, seconds = _num((self.summary or {}).get("steps")), self.train_seconds()
        if steps is None or seconds is None:
            return None
        evals = sum(
            v
            for row in self.evals
            if row["step"] < steps
            for key, value in row.items()
            if key.endswith("/seconds") and (v := _num(value)) is not None
        )
        return steps / (seconds - evals) if seconds > evals else None

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


def run_entry(r: RunRecord) -> dict[str, Any]:
    """A run as results.json keeps it: everything its record holds but the folder's path
    (eval rows: the step and every ``eval*/`` metric)."""
    return {
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
        "evals": [
            {k: v for k, v in row.items() if k == "step" or k.startswith("eval")} for row in r.evals
        ],
        "train_steps_per_s": r.train_steps_per_s,
        "summary": r.summary,
        "trial": r.trial,
        "config": r.config,
    }


def run_from_entry(entry: dict[str, Any], base: Path) -> RunRecord:
    """The record of a results.json ``runs`` entry (``base``: where its folder was)."""
    try:
        return RunRecord(
            path=base / str(entry["name"]),
            name=str(entry["name"]),
            dataset=str(entry["dataset"]),
            group=str(entry["group"]),
            algo=str(entry["algo"]),
            seed=int(entry["seed"]),
            status=str(entry["status"]),
            evals=[dict(row) for row in entry["evals"]],
            train_steps_per_s=[float(v) for v in entry.get("train_steps_per_s") or []],
            summary=entry.get("summary"),
            trial=entry.get("trial"),
            skipped_lines=int(entry.get("skipped_lines") or 0),
            config=entry.get("config") if isinstance(entry.get("config"), dict) else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise GenpolicyError(
            f"a runs entry of results.json lacks {exc}; it was written before reports kept "
            "their runs: make the report again from the run folders"
        ) from None


def summary_file(root: str | Path) -> Path | None:
    """The results.json that ``root`` names when it holds no run folders: the file itself,
    or ``root/results.json``, or ``root/report/results.json``; else None."""
    root = Path(root)
    if root.is_file():
        return root
    if not root.is_dir() or has_run_folders(root):
        return None
    for f in (root / "results.json", root / "report" / "results.json"):
        if f.is_file():
            return f
    return None


def run_folders(root: Path) -> list[Path]:
    """The run folders (``config.yaml`` + ``metrics.jsonl``) under ``root``, at any depth."""
    return list(_run_folders(sorted(root.rglob("metrics.jsonl"))))


def _run_folders(metrics_files: Iterable[Path]) -> Iterator[Path]:
    """The folders of ``metrics_files`` that hold a ``config.yaml`` too, in their order."""
    return (m.parent for m in metrics_files if (m.parent / "config.yaml").is_file())


def run_name(root: Path, d: Path) -> str:
    """A run folder's name in a report: its path relative to the report's root."""
    return d.relative_to(root).as_posix() or "."


def has_run_folders(root: Path) -> bool:
    """Whether a folder holds a run folder (``config.yaml`` + ``metrics.jsonl``) at any depth."""
    return root.is_dir() and next(_run_folders(root.rglob("metrics.jsonl")), None) is not None


def read_results(path: Path) -> dict[str, Any]:
    """A results.json written by ``genpolicy report`` with its runs embedded."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise GenpolicyError(f"cannot read {path} as results.json: {exc}") from None
    runs = data.get("runs") if isinstance(data, dict) else None
    if not isinstance(runs, list) or not runs or not all(isinstance(r, dict) for r in runs):
        raise GenpolicyError(f"{path}: no runs list; not a results.json of genpolicy report")
    if any("evals" not in r for r in runs):
        raise GenpolicyError(
            f"{path} was written before reports kept their runs' evaluations; make the "
            "report again from the run folders (genpolicy report RUNS)"
        )
    return data


def embedded_runs(data: dict[str, Any], source: Path) -> list[RunRecord]:
    """The runs a results.json (``data``, read from ``source`` by ``read_results``) embeds."""
    return [run_from_entry(e, results_root(data, source)) for e in data["runs"]]


def results_root(data: dict[str, Any], source: Path) -> Path:
    """The folder a results.json's runs were read from (its ``meta.root``, else its own)."""
    return Path(str((data.get("meta") or {}).get("root") or source.parent))


def collect_runs(root: str | Path) -> list[RunRecord]:
    """Every run folder (``config.yaml`` + ``metrics.jsonl``) under ``root``, recursively;
    or, where ``root`` is a results.json (or a folder holding ``results.json`` or
    ``report/results.json`` and no run folders), the runs that report embeds."""
    root = Path(root)
    if not root.exists():
        raise GenpolicyError(
            f"report directory {root} does not exist; pass the folder that holds run folders "
            "(train.out_dir, e.g. runs/) or a report's results.json"
        )
    source = summary_file(root)
    if source is not None:
        return embedded_runs(read_results(source), source)
    runs = []
    for d in run_folders(root):
        rec = _read_run(root, d)
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
    rows, bad = read_rows(d / "metrics.jsonl")
    for row in rows:
        if row.get("kind") == "eval":
            evals[row["step"]] = row  # a later row for the same step wins
        elif row.get("kind") == "train" and (v := _num(row.get("steps_per_s"))) is not None:
            sps.append(v)
    if bad:
        warnings.warn(
            f"{d / 'metrics.jsonl'}: skipped {len(bad)} corrupt line(s) (first: line {bad[0]})",
            stacklevel=3,
        )
    if not evals and summary:  # no eval rows left in the log: use the summary's rows
        for key in ("best", "last"):
            best_or_last = summary.get(key)
            if isinstance(best_or_last, dict) and "step" in best_or_last:
                evals[int(best_or_last["step"])] = best_or_last
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
        name=run_name(root, d),
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
        config=cfg,
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
