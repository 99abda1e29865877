"""Run sweep trials in priority order on one machine until a deadline, then pack the results.

For a borrowed machine (a GPU lent for minutes): each trial runs as its own
``genpolicy sweep SPEC --only ID`` (so every run folder is an ordinary sweep run), at most
``--workers`` at a time. A trial starts only while the runs seen so far say it can finish
before the deadline; at the deadline the trials still running get Ctrl-C (they checkpoint
and write an interrupted summary). Finished and partial run folders (without checkpoints),
their logs and a JSON record of every trial's rate go into one tarball.

    python scripts/deadline_sweep.py --device cuda --workers 14 --seconds 480 \
        --out /tmp/out/runs.tgz \
        benchmarks/sweeps/levers-gmpo.yaml:'halfcheetah-*-s0' benchmarks/sweeps/levers-gtp.yaml:'*'

Each positional argument is SPEC:GLOB; trials are taken in argument order, and within one
argument in the spec's own order. Trials already done are skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genpolicy.cli.sweep import select_trials
from genpolicy.errors import GenpolicyError
from genpolicy.experiments.local import last_step
from genpolicy.experiments.spec import expand, load_spec, trial_config
from genpolicy.experiments.trial import run_dir_of, trial_state


@dataclass
class Job:
    spec: str
    trial_id: str
    algo: str
    run_dir: Path
    steps: int
    start_step: int = 0
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    ended: float = 0.0
    state: str = "queued"  # queued, running, done, failed, stopped, skipped
    history: list[tuple[float, int]] = field(default_factory=list)

    def rate(self) -> float:
        """Steps per second over the last 30 s or more of this trial (0 until two readings)."""
        if len(self.history) < 2:
            return 0.0
        t1, s1 = self.history[-1]
        old = [h for h in self.history if t1 - h[0] >= 30.0]
        t0, s0 = old[-1] if old else self.history[0]
        return (s1 - s0) / max(t1 - t0, 1e-9)

    def average_rate(self) -> float:
        """Steps per second since the trial started, start-up and evaluations included."""
        t, step = self.history[-1]
        return (step - self.start_step) / max(t - self.started, 1e-9)

    def record(self) -> dict[str, Any]:
        step = last_step(self.run_dir)
        took = (self.ended or time.monotonic()) - self.started if self.started else 0.0
        return {
            "spec": self.spec,
            "trial": self.trial_id,
            "state": self.state,
            "steps": self.steps,
            "reached": step,
            "seconds": round(took, 1),
            "steps_per_s": round(max(0, step - self.start_step) / took, 2) if took > 0 else None,
        }


def queue_of(args: list[str], device: str) -> list[Job]:
    """The trials SPEC:GLOB names, in argument order; a glob that matches none is an error."""
    jobs: list[Job] = []
    seen: set[tuple[str, str]] = set()
    for item in args:
        spec_path, _, pattern = item.partition(":")
        spec = load_spec(spec_path)
        try:
            chosen = select_trials(expand(spec, check=False), [pattern or "*"])
        except GenpolicyError:
            raise GenpolicyError(
                f"{item}: no trial id matches {pattern!r} (list them with "
                f"`genpolicy sweep {spec_path} --dry-run`)"
            ) from None
        for t in chosen:
            if (spec_path, t.id) in seen:
                continue
            seen.add((spec_path, t.id))
            cfg = trial_config(spec, t, 1, device)
            job = Job(spec_path, t.id, cfg.algo.name, run_dir_of(cfg), cfg.train.steps)
            if trial_state(cfg) == "done":
                job.state = "skipped"
            jobs.append(job)
    return jobs


def start(job: Job, device: str, logs: Path) -> None:
    log = (logs / f"{job.trial_id}.log").open("ab")
    job.start_step = last_step(job.run_dir)
    cmd = [sys.executable, "-m", "genpolicy.cli", "sweep", job.spec, "--only", job.trial_id]
    cmd += ["--workers", "1", "--threads", "1", "--status-every", "0", "--device", device]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    job.proc = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    job.started = time.monotonic()
    job.state = "running"
    job.history = [(job.started, job.start_step)]


def finish(job: Job, code: int, now: float) -> None:
    job.ended = now
    job.state = "done" if code == 0 else ("stopped" if code == 130 else "failed")


def stop(job: Job) -> None:
    if job.proc is not None and job.proc.poll() is None:
        os.killpg(job.proc.pid, signal.SIGINT)


def rate_of(algo: str, jobs: list[Job]) -> float | None:
    """The slowest rate (steps/s, startup and evaluations included) seen for ``algo``, else
    the median over all algorithms; None before any reading."""
    seen: dict[str, list[float]] = {}
    for j in jobs:
        if j.state == "done" or (j.state == "running" and time.monotonic() - j.started > 45.0):
            r = j.average_rate()
        else:
            continue
        if r > 0:
            seen.setdefault(j.algo, []).append(r)
    if algo in seen:
        return min(seen[algo])
    every = sorted(r for rs in seen.values() for r in rs)
    return every[len(every) // 2] if every else None


def eta(job: Job) -> float | None:
    r = job.rate()
    if r <= 0:
        return None
    return (job.steps - job.history[-1][1]) / r


def main() -> int:
    try:
        return run()
    except GenpolicyError as exc:
        print(f"deadline_sweep: error: {exc}", file=sys.stderr)
        return 2


def run() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("items", nargs="+", help="SPEC:GLOB, in priority order")
    p.add_argument("--device", default="cuda")
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--seconds", type=float, required=True, help="deadline from now")
    p.add_argument("--grace", type=float, default=25.0, help="seconds left for Ctrl-C + pack")
    p.add_argument("--every", type=float, default=10.0, help="seconds between status lines")
    p.add_argument("--out", required=True, help="tarball to write (.tgz)")
    p.add_argument("--logs", default="logs/deadline_sweep")
    p.add_argument("--dry-run", action="store_true", help="print the queue and exit")
    args = p.parse_args()

    t0 = time.monotonic()
    deadline = t0 + args.seconds - args.grace
    logs = Path(args.logs)
    logs.mkdir(parents=True, exist_ok=True)
    jobs = queue_of(args.items, args.device)
    queued = [j for j in jobs if j.state == "queued"]
    if args.dry_run:
        for j in jobs:
            print(f"{j.state:8s} {j.spec} {j.trial_id} ({j.algo}, {j.steps} steps)")
        return 0
    print(
        f"{len(jobs)} trials, {len(queued)} to run, {args.workers} at a time, {args.seconds:.0f} s",
        flush=True,
    )
    last_print = 0.0
    while True:
        now = time.monotonic()
        running = [j for j in jobs if j.state == "running"]
        for j in running:
            assert j.proc is not None
            j.history.append((now, last_step(j.run_dir)))
            code = j.proc.poll()
            if code is not None:
                finish(j, code, now)
                print(
                    f"{j.state} {j.trial_id} (exit {code}) after {now - j.started:.0f} s",
                    flush=True,
                )
        running = [j for j in jobs if j.state == "running"]
        if now >= deadline:
            break
        # admit the next trials while the rates seen say they can finish
        while len(running) < args.workers:
            nxt = next((j for j in jobs if j.state == "queued"), None)
            if nxt is None:
                break
            rate = rate_of(nxt.algo, jobs)
            if rate and nxt.steps / rate > (deadline - now) * 1.1:
                nxt.state = "skipped"  # would not finish: leave it for a longer run
                print(
                    f"skip {nxt.trial_id}: {nxt.steps} steps at {rate:.0f}/s "
                    f"do not fit the {deadline - now:.0f} s left",
                    flush=True,
                )
                continue
            start(nxt, args.device, logs)
            running.append(nxt)
            print(f"start {nxt.trial_id}", flush=True)
        if not running and not any(j.state == "queued" for j in jobs):
            break
        if now - last_print >= args.every:
            last_print = now
            parts = []
            for j in running:
                e = eta(j)
                parts.append(
                    f"{j.trial_id} {j.history[-1][1]}/{j.steps} {j.rate():.0f}/s"
                    + (f" eta {e:.0f}s" if e is not None else "")
                )
            print(f"[{now - t0:5.0f}s] " + "; ".join(parts), flush=True)
        time.sleep(2.0)
    for j in jobs:
        if j.state == "running":
            stop(j)
    for j in jobs:
        if j.state == "running" and j.proc is not None:
            try:
                code = j.proc.wait(timeout=max(5.0, args.grace - 15.0))
            except subprocess.TimeoutExpired:
                os.killpg(j.proc.pid, signal.SIGKILL)
                code = 130
            finish(j, code, time.monotonic())  # one that ended just before the deadline: done
    records = [j.record() for j in jobs]
    Path(logs / "deadline_sweep.json").write_text(json.dumps(records, indent=1))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w:gz") as tar:
        for j in jobs:
            if j.state not in ("done", "stopped", "failed"):
                continue
            if j.run_dir.is_dir():
                tar.add(str(j.run_dir), filter=lambda ti: None if "checkpoints" in ti.name else ti)
            worker_log = j.run_dir.parent.parent / "logs" / f"{j.trial_id}.log"
            if worker_log.is_file():
                tar.add(str(worker_log))
        tar.add(str(logs))
    done = sum(j.state == "done" for j in jobs)
    print(
        f"{done} done, {sum(j.state == 'stopped' for j in jobs)} stopped, "
        f"{sum(j.state == 'failed' for j in jobs)} failed; packed {out} "
        f"({out.stat().st_size / 1e6:.1f} MB)",
        flush=True,
    )
    for r in records:
        print(json.dumps(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
