"""The local backend: N worker processes on this machine, one trial per process.

Each trial runs in ``python -m genpolicy.experiments.worker`` with ``threads`` torch threads, so
trials never share an interpreter or a thread pool. The driver starts workers, prints a
line when a trial starts or ends and a status line (steps done, ETA) every
``status_every`` seconds, read from the trials' own ``metrics.jsonl``. Workers end with the
driver (kill -9 included); SIGTERM to the driver gives each worker one Ctrl-C, so they
checkpoint first. Rerunning the same command finishes only what is missing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from genpolicy.errors import GenpolicyError
from genpolicy.experiments.spec import SweepSpec, Trial, trial_config
from genpolicy.experiments.trial import EXIT_BUSY, run_dir_of, trial_state
from genpolicy.training import checkpoint
from genpolicy.training.logger import parse_row
from genpolicy.training.progress import fmt_seconds


@dataclass
class _Running:
    trial: Trial
    proc: subprocess.Popen[bytes]
    run_dir: Path
    total: int
    start_step: int
    started: float
    log: Any
    algo: str = ""

    def finished(self) -> bool:
        """Whether the run folder holds a summary of a run that trained all its steps."""
        try:
            s = json.loads((self.run_dir / "summary.json").read_text())
        except (OSError, ValueError):
            return False
        return not s.get("interrupted") and int(s.get("steps", 0)) >= self.total

    def steps_run(self) -> int:
        """Updates this call has run in the trial so far (logged steps past its start)."""
        return max(0, last_step(self.run_dir) - self.start_step)


@dataclass
class SweepOutcome:
    done: list[str] = field(default_factory=list)  # finished now or before
    skipped: list[str] = field(default_factory=list)  # already finished before this call
    failed: dict[str, str] = field(default_factory=dict)  # id -> reason
    interrupted: bool = False
    steps: int = 0  # updates this call ran (a branch's or a resumed run's loaded ones not counted)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.interrupted


def _start_step(cfg: Any) -> int:
    """The step a trial starts from: its own checkpoint's (resume), else the step of the
    checkpoint it is initialised from (``train.init_from``), else 0."""
    run_dir = run_dir_of(cfg)
    if checkpoint.exists(run_dir, "last"):
        return last_step(run_dir)
    if cfg.train.init_from:
        try:
            return int(checkpoint.load(cfg.train.init_from)["step"])
        except GenpolicyError:  # the trial itself will say what is wrong with it
            return 0
    return 0


def last_step(run_dir: Path) -> int:
    """The newest logged step of a run (0 if none), from the tail of metrics.jsonl."""
    path = run_dir / "metrics.jsonl"
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 4096))
            lines = f.read().decode(errors="ignore").strip().splitlines()
    except OSError:
        return 0
    for line in reversed(lines):
        if (row := parse_row(line)) is not None:
            return int(row["step"])
    return 0


def branch_parents(pending: list[tuple[Trial, Any]]) -> dict[str, set[str]]:
    """Per trial, the other trials whose run folder holds its ``train.init_from``: a
    branch starts only after the run it branches from has ended."""
    dirs = {t.id: run_dir_of(cfg).resolve() for t, cfg in pending}
    out: dict[str, set[str]] = {}
    for t, cfg in pending:
        src = Path(cfg.train.init_from).expanduser().resolve() if cfg.train.init_from else None
        out[t.id] = {
            other
            for other, d in dirs.items()
            if src is not None and other != t.id and src.is_relative_to(d)
        }
    return out


def take_pack(
    cfg: Any, pending: list[tuple[Trial, Any]], size: int, workers: int = 1
) -> list[tuple[Trial, Any]]:
    """Up to ``size - 1`` pending trials to train with the trial of ``cfg`` as one
    population: new trials (nothing to resume) of an algorithm populations support whose
    configs differ only in the seed, learning rates or temperature
    (``population.MEMBER_HYPERS``). With ``workers`` free workers the matching trials are
    spread over them: a pack takes at most ceil(matches / workers), so 8 seeds on 2 workers
    train as two populations of 4. Removes them from ``pending``; empty when ``cfg``'s
    trial cannot pack."""
    from genpolicy.training.population import pack_key

    key = pack_key(cfg)
    if key is None or trial_state(cfg) != "new":
        return []
    matches = [
        (t, c)
        for t, c in pending
        if pack_key(c) == key and trial_state(c) == "new" and not c.train.init_from
    ]
    size = min(size, -(-(len(matches) + 1) // max(1, workers)))
    pack = matches[: size - 1]
    for m in pack:
        pending.remove(m)
    return pack


def eta_seconds(
    spent: dict[str, tuple[int, float]], left: dict[str, int], workers: int
) -> float | None:
    """Seconds until the steps ``left`` (per algorithm) are trained by ``workers`` workers, at
    each algorithm's own rate so far (``spent``: its steps and worker-seconds); an algorithm
    not measured yet goes at the rate of all of them together. None before any step."""
    steps = sum(n for n, _ in spent.values())
    seconds = sum(t for _, t in spent.values())
    if steps <= 0 or seconds <= 0:
        return None
    total = 0.0
    for algo, n in left.items():
        done, took = spent.get(algo, (0, 0.0))
        total += n * (took / done if done > 0 and took > 0 else seconds / steps)
    return total / max(workers, 1)


def _add_time(times: dict[str, tuple[int, float]], r: _Running, now: float) -> None:
    """Add trial ``r``'s steps so far and its seconds up to ``now`` to its algorithm's."""
    steps, seconds = times.get(r.algo, (0, 0.0))
    times[r.algo] = (steps + r.steps_run(), seconds + now - r.started)


def _algo_times(
    spent: dict[str, tuple[int, float]],
    running: list[_Running],
    pending: list[tuple[Trial, Any]],
    starts: dict[str, int],
    now: float,
) -> tuple[dict[str, tuple[int, float]], dict[str, int]]:
    """Per algorithm: steps and seconds so far (ended trials and running ones), and the
    steps left (running and pending trials)."""
    times = dict(spent)
    left: dict[str, int] = {}
    for r in running:
        _add_time(times, r, now)
        left[r.algo] = left.get(r.algo, 0) + max(0, r.total - r.start_step - r.steps_run())
    for trial, cfg in pending:
        name = cfg.algo.name
        left[name] = left.get(name, 0) + max(0, cfg.train.steps - starts[trial.id])
    return times, left


def default_workers(threads: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, threads))


def run_local(
    spec: SweepSpec,
    trials: list[Trial],
    *,
    workers: int | None = None,
    threads: int = 1,
    status_every: float = 30.0,
    stream: TextIO | None = None,
    device: str | None = None,
    population: int = 1,
    after_trial: Callable[[], None] | None = None,
) -> SweepOutcome:
    """Run every unfinished trial; returns which finished, failed or were skipped.

    ``population`` = P > 1 packs up to P new trials that differ only in their seed,
    learning rates or temperature into one worker process, trained as one population
    (``genpolicy.training.population``); the packs are spread over the free workers.
    ``after_trial()`` is called each time a trial has finished (e.g. to write the report)."""
    out = stream or sys.stdout
    workers = workers or default_workers(threads)
    queue_dir, log_dir = spec.out / "queue", spec.out / "logs"
    queue_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    outcome = SweepOutcome()
    pending: list[tuple[Trial, Any]] = []
    for t in trials:
        cfg = trial_config(spec, t, threads, device)
        if trial_state(cfg) == "done":
            outcome.done.append(t.id)
            outcome.skipped.append(t.id)
        else:
            pending.append((t, cfg))
    starts = {t.id: _start_step(cfg) for t, cfg in pending}
    total_steps = sum(cfg.train.steps - starts[t.id] for t, cfg in pending)
    print(
        f"sweep {spec.name}: {len(trials)} trials, {len(outcome.skipped)} already done, "
        f"{len(pending)} to run on {workers} worker(s) x {threads} thread(s); out {spec.out}",
        file=out,
        flush=True,
    )
    parents = branch_parents(pending)
    running: list[_Running] = []
    finished_steps = 0  # steps run by this call in trials that have ended
    spent: dict[str, tuple[int, float]] = {}  # algorithm -> steps, seconds of ended lone trials
    t0 = last_status = time.monotonic()
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    n_total = len(pending)
    n_started = 0
    restore = _stop_on_sigterm(running)
    try:
        while pending or running:
            while pending and len({id(r.proc) for r in running}) < workers:
                waiting = {t.id for t, _ in pending} | {r.trial.id for r in running}
                ready = [i for i, (t, _) in enumerate(pending) if not parents[t.id] & waiting]
                if not ready:
                    if running:
                        break  # every pending trial branches from one still running
                    ready = [0]  # a cycle of init_from paths: let the trial say what is wrong
                trial, cfg = pending.pop(ready[0])
                free = workers - len({id(r.proc) for r in running})
                pack = take_pack(cfg, pending, population, free) if population > 1 else []
                if pack:
                    members = [(trial, cfg), *pack]
                    n_started += len(members)
                    path = queue_dir / f"{trial.id}.pack.json"
                    payloads = [{"trial": t.to_dict(), "config": c.to_dict()} for t, c in members]
                    path.write_text(json.dumps({"pack": payloads}))
                    log = (log_dir / f"{trial.id}.log").open("ab")
                    proc = _start_worker(path, log, env)
                    for t, c in members:
                        running.append(
                            _Running(
                                t, proc, run_dir_of(c), c.train.steps, 0, time.monotonic(), log
                            )
                        )
                    ids = ", ".join(t.id for t, _ in members)
                    print(f"[{n_started}/{n_total}] population of {len(members)}: {ids}", file=out)
                    out.flush()
                    continue
                failed = sorted(parents[trial.id] & set(outcome.failed))
                if failed:
                    outcome.failed[trial.id] = f"train.init_from's trial {failed[0]} failed"
                    print(f"FAILED {trial.id}: its init_from trial {failed[0]} failed", file=out)
                    continue
                n_started += 1
                path = queue_dir / f"{trial.id}.json"
                path.write_text(json.dumps({"trial": trial.to_dict(), "config": cfg.to_dict()}))
                run_dir = run_dir_of(cfg)
                log = (log_dir / f"{trial.id}.log").open("ab")
                proc = _start_worker(path, log, env)
                # a branch's init_from checkpoint may exist only now that its parent ran
                start = _start_step(cfg)
                total_steps -= start - starts[trial.id]
                running.append(
                    _Running(
                        trial,
                        proc,
                        run_dir,
                        cfg.train.steps,
                        start,
                        time.monotonic(),
                        log,
                        cfg.algo.name,
                    )
                )
                verb = "resumes" if checkpoint.exists(run_dir, "last") else "starts"
                print(f"[{n_started}/{n_total}] {trial.id} {verb}", file=out, flush=True)
            time.sleep(0.2)
            for r in list(running):
                code = r.proc.poll()
                if code is None:
                    continue
                running.remove(r)
                r.log.close()
                finished_steps += r.steps_run()
                if r.algo:  # a lone trial: its steps and seconds time its algorithm
                    _add_time(spent, r, time.monotonic())
                took = fmt_seconds(time.monotonic() - r.started)
                if code not in (0, 130, 143, EXIT_BUSY) and r.finished():
                    code = 0  # a population member that finished while another one failed
                if code == 0:
                    outcome.done.append(r.trial.id)
                    print(f"done {r.trial.id} in {took}: {_score_text(r.run_dir)}", file=out)
                    if after_trial is not None:
                        after_trial()
                elif code == EXIT_BUSY:
                    outcome.failed[r.trial.id] = "run by another process"
                    print(f"skip {r.trial.id}: another process runs it", file=out)
                elif code in (130, 143):  # stopped by SIGINT / SIGTERM, checkpoint saved
                    outcome.interrupted = True
                    print(f"stopped {r.trial.id} (checkpoint saved)", file=out)
                else:
                    reason = _last_line(Path(r.log.name))
                    outcome.failed[r.trial.id] = reason
                    print(f"FAILED {r.trial.id} (exit {code}): {reason}", file=out)
                out.flush()
            now = time.monotonic()
            if running and status_every and now - last_status >= status_every:
                last_status = now
                live = sum(r.steps_run() for r in running)
                done_steps = finished_steps + live
                rate = done_steps / max(now - t0, 1e-9)
                left = total_steps - done_steps
                secs: float | None = left / rate if rate > 0 else None
                if population <= 1:  # each algorithm at its own rate (BC, GMPO differ 20x)
                    secs = eta_seconds(*_algo_times(spent, running, pending, starts, now), workers)
                eta = fmt_seconds(secs) if secs is not None else "?"
                parts = [f"{r.trial.id} {last_step(r.run_dir)}/{r.total}" for r in running]
                print(
                    f"status: {len(outcome.done) - len(outcome.skipped)}/{n_total} done, "
                    f"{done_steps}/{total_steps} steps, {rate:.3g} steps/s, ETA {eta}; "
                    + "; ".join(parts),
                    file=out,
                    flush=True,
                )
    except KeyboardInterrupt:  # the workers got a Ctrl-C too (or one from SIGTERM's handler)
        outcome.interrupted = True
        print("sweep: interrupted; waiting for the workers to save checkpoints", file=out)
        for r in running:
            try:
                r.proc.wait(timeout=60)  # returns at once for a population's other members
            except subprocess.TimeoutExpired:
                r.proc.kill()
            r.log.close()
            finished_steps += r.steps_run()
    finally:
        if restore is not None:
            signal.signal(signal.SIGTERM, restore)
    outcome.steps = finished_steps
    ran = len(outcome.done) - len(outcome.skipped)
    print(
        f"sweep {spec.name}: {ran} trial(s) finished, {len(outcome.failed)} failed; "
        f"{finished_steps} updates in {fmt_seconds(time.monotonic() - t0)}",
        file=out,
        flush=True,
    )
    if outcome.interrupted:
        print("sweep: rerun the same command to finish the missing trials", file=out)
    return outcome


def _start_worker(payload: Path, log: Any, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A worker process for the trial (or population) in ``payload``, its output in ``log``."""
    return subprocess.Popen(
        [sys.executable, "-m", "genpolicy.experiments.worker", str(payload)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )


def _stop_on_sigterm(running: list[_Running]) -> Any:
    """SIGTERM to the driver alone (``kill PID``, a job scheduler's stop) reaches no worker:
    pass the workers one Ctrl-C each, so they checkpoint, then stop like a Ctrl-C."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum: int, frame: Any) -> None:
        procs = {id(r.proc): r.proc for r in running}  # a population's members share one
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, handler)


def _score_text(run_dir: Path) -> str:
    try:
        s = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return "no summary"
    last = s.get("last") or {}
    score = last.get("eval/score_mean")
    ret = last.get("eval/return_mean")
    steps, here = s.get("steps"), s.get("segment_steps")
    rate = f"{s.get('steps_per_s', 0):.1f} steps/s"
    if isinstance(here, int) and isinstance(steps, int) and 0 < here < steps:
        text = f"{steps} steps ({here} trained here at {rate})"  # a branch or a resumed run
    else:
        text = f"{steps} steps at {rate}"
    if score is not None:
        text += f", last score {score:.1f}"
    elif ret is not None:
        text += f", last return {ret:.1f}"
    return text


def _last_line(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="ignore").splitlines() if ln.strip()]
    except OSError:
        return "no log"
    return lines[-1][:300] if lines else "no output"
