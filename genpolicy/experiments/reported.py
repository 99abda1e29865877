"""Trials of a sweep that its own report already holds, their run folders gone.

Run folders stay on the machine that trained them (checkpoints are large, and a repository
ignores them), while ``<out>/report/results.json`` keeps every run's evaluations, summary,
trial and config. On another machine, or after the run folders were deleted, a trial whose
run folder is missing and whose report entry finished with the trial's settings counts as
done: the sweep does not train it again and its next report keeps that entry. A finished run
that was trained into the sweep's folder outside the sweep (no trial) is kept too.

The settings are compared as a resumed run's are (``trial_state``): the entry's recorded
config against the trial's, the keys that change no result left out. An entry written before
reports recorded configs is compared by the spec's part only (base name and overrides).
A trial that such a run branches from (``train.init_from`` inside its folder) is trained again
when a branch still has to run, since the checkpoint it needs went with the folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genpolicy.errors import GenpolicyError
from genpolicy.experiments.report.runs import (
    RunRecord,
    read_results,
    results_root,
    run_from_entry,
)
from genpolicy.experiments.spec import SweepSpec, Trial, trial_config
from genpolicy.experiments.trial import (
    RESULT_FREE_KEYS,
    differing_keys,
    run_dir_of,
    trial_state,
)
from genpolicy.training.config import RunConfig


@dataclass
class Reported:
    """What a sweep's earlier report holds for its trials."""

    source: Path  # <out>/report/results.json
    runs: dict[str, RunRecord] = field(default_factory=dict)  # trial id -> its kept run
    by_overrides: list[str] = field(default_factory=list)  # kept, compared by the spec's part
    differing: list[str] = field(default_factory=list)  # entries of trials set up otherwise now
    unfinished: list[str] = field(default_factory=list)  # entries that stopped short
    retrained: list[str] = field(default_factory=list)  # kept runs a branch needs trained again
    # finished runs trained outside the sweep into its folder (no trial.json), folders gone
    outside: list[RunRecord] = field(default_factory=list)

    def kept(self) -> list[RunRecord]:
        """The runs the next report keeps from this one."""
        return [*self.runs.values(), *self.outside]


def report_results(spec: SweepSpec) -> Path:
    return spec.out / "report" / "results.json"


def reported_trials(
    spec: SweepSpec,
    trials: list[Trial],
    to_run: set[str] | None = None,
    threads: int = 1,
    device: str | None = None,
) -> Reported:
    """The trials of ``trials`` (the whole grid) that the sweep's report holds and that have
    no run folder. ``to_run``: the ids asked for (default: all); a kept run that one of them
    branches from, while that branch is not done, moves to ``retrained`` instead."""
    source = report_results(spec)
    found = Reported(source)
    if not source.is_file():
        return found
    data = read_results(source)
    base = results_root(data, source)
    entries = {str(e.get("name")): e for e in data["runs"]}
    configs = {t.id: trial_config(spec, t, threads, device) for t in trials}
    for t in trials:
        cfg = configs[t.id]
        entry = entries.get(t.id)
        if entry is None or (run_dir_of(cfg) / "config.yaml").is_file():
            continue  # a run folder speaks for itself
        if not _finished(entry, cfg):
            found.unfinished.append(t.id)
            continue
        match = _same_run(entry, t, cfg)
        if match is None:
            found.differing.append(t.id)
            continue
        found.runs[t.id] = run_from_entry(entry, base)
        if match == "overrides":
            found.by_overrides.append(t.id)
    for e in data["runs"]:  # e.g. `genpolicy train ... --set train.out_dir=<out>/runs`
        name = str(e.get("name"))
        if e.get("trial") is None and name not in configs and e.get("status") == "finished":
            if not (spec.out / "runs" / name / "config.yaml").is_file():
                found.outside.append(run_from_entry(e, base))
    asked = set(configs) if to_run is None else to_run
    dirs = {t: run_dir_of(c).resolve() for t, c in configs.items()}
    changed = True
    while changed:  # a retrained run's own trunk may be kept too
        changed = False
        for tid in sorted((asked & set(configs)) - set(found.runs)):
            src = configs[tid].train.init_from
            if not src or _done(configs[tid]):
                continue
            path = Path(src).expanduser().resolve()
            for parent in [p for p in found.runs if path.is_relative_to(dirs[p])]:
                del found.runs[parent]
                found.retrained.append(parent)
                asked.add(parent)
                changed = True
    found.by_overrides = [t for t in found.by_overrides if t in found.runs]
    return found


def _finished(entry: dict[str, Any], cfg: RunConfig) -> bool:
    """Whether the entry's run trained all of ``cfg``'s updates."""
    summary = entry.get("summary") or {}
    steps = summary.get("steps")
    return (
        entry.get("status") == "finished"
        and not summary.get("interrupted")
        and isinstance(steps, int)
        and steps >= cfg.train.steps
    )


def _same_run(entry: dict[str, Any], trial: Trial, cfg: RunConfig) -> str | None:
    """ "config" or "overrides" (how it was compared) where the entry ran this trial's
    settings, else None."""
    saved = entry.get("config")
    if isinstance(saved, dict):
        return None if differing_keys(saved, cfg) else "config"
    old = entry.get("trial") or {}
    same = old.get("base") == trial.base and _compared(old.get("overrides")) == _compared(
        trial.overrides
    )
    return "overrides" if same else None


def _compared(overrides: Any) -> dict[str, Any]:
    """Overrides without the keys that change no result."""
    if not isinstance(overrides, dict):
        return {}
    skip = {f"{sec}.{k}" for sec, keys in RESULT_FREE_KEYS.items() for k in keys}
    return {k: v for k, v in overrides.items() if k not in skip}


def _done(cfg: RunConfig) -> bool:
    try:
        return trial_state(cfg) == "done"
    except GenpolicyError:  # a folder of another config: the trial says so when it runs
        return False
