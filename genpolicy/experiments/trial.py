"""One trial, the same for every backend: finish it, resume it, or start it.

A trial's run folder is ``<out>/runs/<id>``, made by the ordinary trainer. Whatever process
runs the trial (a local worker, a Ray Tune actor) calls ``run_trial(payload)``:

* ``summary.json`` says the run finished (not interrupted, all steps): nothing is trained,
  its summary is returned (after checking it was made by the same config);
* its checkpoint ``checkpoints/last`` exists (``last.safetensors`` + ``last.json``, or an
  old ``last.pt``): the run resumes from it (bit-identical to never stopping);
* otherwise the run starts afresh (a folder without a checkpoint holds nothing to keep).

A lock file ``<out>/runs/.<id>.lock`` (the trainer's own, ``genpolicy.training.lock``) stops
two processes from training the same trial.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genpolicy.errors import GenpolicyError
from genpolicy.training import checkpoint
from genpolicy.training.config import MEMORY_ONLY_ALGO_KEYS, RunConfig
from genpolicy.training.lock import RunBusy, run_lock

EvalCallback = Callable[[dict[str, Any]], None]
# train-section keys that may differ between the runs of one trial (they change no result;
# eval_act_candidates only adds evaluations, which act from their own seeded generator, so a
# finished run stays done when a spec starts asking for them, and a resumed one adds them;
# checkpoint_at only keeps more checkpoints)
FREE_TRAIN_KEYS = (
    "threads",
    "progress",
    "log_interval_s",
    "device",
    "tensorboard",
    "out_dir",
    "eval_act_candidates",
    "checkpoint_at",
)
# a row that branches (train.init_from into another trial of the sweep) still counts a
# finished run of it that trained in full as done: see trained_in_full_for_a_branch
BRANCH_KEYS = {"train.init_from", "train.init_history"}
EXIT_BUSY = 75  # a worker's exit code when another process holds the trial


TrialBusy = RunBusy  # another process is running this trial (holds its run folder's lock)


def run_dir_of(cfg: RunConfig) -> Path:
    return Path(cfg.train.out_dir) / cfg.run_name


def trial_lock(run_dir: Path) -> contextlib.AbstractContextManager[Path]:
    """The run folder's lock (``genpolicy.training.lock``), the one the trainer takes too."""
    return run_lock(run_dir, "trial")


def trained_in_full_for_a_branch(saved: dict[str, Any], cfg: RunConfig) -> bool:
    """Whether a saved run that trained from scratch stands for ``cfg``'s branch.

    ``cfg`` starts from a checkpoint inside another run folder of the same sweep
    (``train.init_from`` under ``train.out_dir``): a row made a branch after some of its runs
    had trained in full. Those runs trained the same first updates as the branch point holds
    (the rows share them, which is what makes them a branch), and differ from a branch only
    in the random draws after it, as two branches would; so they stay done instead of being
    refused. A saved run that itself started from a checkpoint is compared as usual.
    """
    if not cfg.train.init_from or (saved.get("train") or {}).get("init_from"):
        return False
    src = Path(cfg.train.init_from).expanduser().resolve()
    runs, own = Path(cfg.train.out_dir).resolve(), run_dir_of(cfg).resolve()
    return src.is_relative_to(runs) and not src.is_relative_to(own)


# the config keys, per section, that change no result (a run's speed, logging, memory use)
RESULT_FREE_KEYS: dict[str, tuple[str, ...]] = {
    "train": FREE_TRAIN_KEYS,
    "algo": MEMORY_ONLY_ALGO_KEYS,
}


def differing_keys(saved: dict[str, Any], cfg: RunConfig) -> list[str]:
    """The keys that change a result and differ between a saved run's config and ``cfg``
    (none for a run that trained in full where ``cfg`` branches: see
    ``trained_in_full_for_a_branch``)."""
    from genpolicy.training.config import config_diff

    diff = config_diff(saved, cfg, ignore=RESULT_FREE_KEYS)
    if diff and set(diff) <= BRANCH_KEYS and trained_in_full_for_a_branch(saved, cfg):
        return []
    return diff


def trial_state(cfg: RunConfig) -> str:
    """'done', 'resume' or 'new' for the trial whose run folder ``cfg`` names."""
    run_dir = run_dir_of(cfg)
    summary, saved = run_dir / "summary.json", run_dir / "config.yaml"
    if summary.is_file() and saved.is_file():
        from genpolicy.training.config import read_file

        diff = differing_keys(read_file(saved), cfg)
        if diff:
            raise GenpolicyError(
                f"{run_dir} was made by a different config ({', '.join(diff)}); "
                "use another sweep output folder (--out) or delete that run folder"
            )
        s = json.loads(summary.read_text())
        if not s.get("interrupted") and int(s.get("steps", 0)) >= cfg.train.steps:
            return "done"
    if checkpoint.exists(run_dir, "last"):
        return "resume"
    return "new"


def run_trial(payload: dict[str, Any], on_eval: EvalCallback | None = None) -> dict[str, Any]:
    """Run (or finish, or skip) one trial; returns its summary dict.

    ``payload``: ``{"trial": Trial.to_dict(), "config": RunConfig.to_dict()}``.
    ``on_eval(row)`` is called with every evaluation row made by this process.
    """
    from genpolicy.training.trainer import Trainer

    cfg = RunConfig.from_dict(payload["config"])
    run_dir = run_dir_of(cfg)
    with trial_lock(run_dir):
        state = trial_state(cfg)
        if state == "done":
            summary: dict[str, Any] = json.loads((run_dir / "summary.json").read_text())
            summary["skipped"] = True
            return summary
        trainer = Trainer(cfg, resume=state == "resume", overwrite=state == "new")
        (run_dir / "trial.json").write_text(json.dumps(payload["trial"], indent=2))
        seen = len(trainer.evals)

        def hook(step: int, tr: Any) -> bool:
            nonlocal seen
            if on_eval is not None and len(tr.evals) > seen:
                for row in tr.evals[seen:]:
                    on_eval(row)
            seen = len(tr.evals)
            return False

        result = trainer.run(hook)
        if on_eval is not None and len(trainer.evals) > seen:
            for row in trainer.evals[seen:]:
                on_eval(row)
        out = dict(result.summary)
        if result.stop_signal is not None:
            out["stop_signal"] = int(result.stop_signal)  # not in summary.json
        return out


def run_pack(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Train new trials that differ only in seed, learning rates or temperature as one population
    (``genpolicy.training.population``); returns their summaries.

    ``payload``: ``{"pack": [trial payloads]}``, each as ``run_trial`` takes it.
    """
    from genpolicy.training.population import fit_population

    members = [(p, RunConfig.from_dict(p["config"])) for p in payload["pack"]]
    with contextlib.ExitStack() as locks:
        for _, cfg in members:
            locks.enter_context(trial_lock(run_dir_of(cfg)))
        # another sweep may have trained or started some of them since they were packed
        states = [trial_state(c) for _, c in members]
        new = [m for m, s in zip(members, states, strict=True) if s == "new"]
        others = [p for (p, _), s in zip(members, states, strict=True) if s != "new"]

        def write_trials(trainers: list[Any]) -> None:
            for (p, _), tr in zip(new, trainers, strict=True):
                (tr.run_dir / "trial.json").write_text(json.dumps(p["trial"], indent=2))

        results = []
        if new:
            results = fit_population([c for _, c in new], overwrite=True, on_start=write_trials)
    out = []
    for r in results:
        out.append(dict(r.summary))
        if r.stop_signal is not None:
            out[-1]["stop_signal"] = int(r.stop_signal)
    for p in others:  # done already (skipped) or to resume: each as a lone trial
        out.append(run_trial(p))
    return out


def worker_main(argv: list[str] | None = None) -> int:
    """``python -m genpolicy.experiments.worker PAYLOAD.json``: run one trial in this process."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m genpolicy.experiments.worker PAYLOAD.json", file=sys.stderr)
        return 2
    _die_with_parent()
    payload = json.loads(Path(argv[0]).read_text())
    try:
        if "pack" in payload:
            summaries = run_pack(payload)
            stopped = [s for s in summaries if s.get("interrupted") and s.get("stop_signal")]
            if stopped:
                return 128 + int(stopped[0]["stop_signal"])
            return 1 if any("failed" in s for s in summaries) else 0
        summary = run_trial(payload)
    except TrialBusy as exc:
        print(f"genpolicy: {exc}", file=sys.stderr)
        return EXIT_BUSY
    except GenpolicyError as exc:
        print(f"genpolicy: error: {exc}", file=sys.stderr)
        return 2
    if summary.get("interrupted"):  # stopped by a signal, checkpoint saved
        return 128 + int(summary.get("stop_signal") or 2)
    return 0


def _die_with_parent() -> None:
    """End this worker when the sweep driver dies, even by kill -9 (no orphaned trainers)."""
    parent = os.getppid()
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, int(signal.SIGKILL), 0, 0, 0) == 0:  # PR_SET_PDEATHSIG
            if os.getppid() != parent:  # the parent died before prctl took effect
                os._exit(1)
            return
    except (OSError, AttributeError):
        pass
    import threading
    import time

    def watch() -> None:  # elsewhere: poll the parent
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, daemon=True).start()
