"""``genpolicy sweep SPEC.yaml``: a grid or search of training runs."""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the CLI imports the sweep machinery only when a sweep runs
    from genpolicy.experiments.reported import Reported
    from genpolicy.experiments.spec import SweepSpec

BACKENDS = ("local", "ray")


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "sweep",
        help="run a grid (or a Ray Tune search) of training runs from a spec",
        description="Expand SPEC.yaml (a base config, a grid of overrides, an output folder) "
        "into trials and run each as an ordinary run folder under OUT/runs/. Finished trials "
        "are skipped and interrupted ones resume from their checkpoints, so rerunning the "
        "same command after a crash finishes only what is missing. See docs/guide/sweeps.md.",
    )
    p.add_argument("spec", help="sweep spec (YAML)")
    p.add_argument("--backend", choices=BACKENDS, default="local")
    p.add_argument("--out", default=None, help="output folder (default: the spec's out)")
    p.add_argument(
        "--workers", type=int, default=None, help="trials at a time (default: cores / threads)"
    )
    p.add_argument("--threads", type=int, default=1, help="torch threads per trial")
    p.add_argument(
        "--population",
        type=int,
        default=1,
        metavar="P",
        help="train up to P new trials that differ only in seed, algo.lr, critic.lr, "
        "algo.beta or algo.eta as one batched process (bc, iql, gmpo, gtp; local "
        "backend); --threads is that process's",
    )
    p.add_argument(
        "--device",
        default=None,
        help="torch device for every trial, e.g. cuda (local backend; default: the spec's "
        "train.device). Trials share the device: on one GPU, --workers trials at a time",
    )
    p.add_argument("--dry-run", action="store_true", help="list the trials and exit")
    p.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="GLOB",
        help="run only trials whose id matches this shell pattern (repeatable; e.g. "
        "'*-min-ess-s1'); the others stay as they are",
    )
    p.add_argument(
        "--status-every", type=float, default=30.0, help="seconds between status lines (local)"
    )
    p.add_argument("--address", default=None, help="Ray cluster address (ray backend)")
    p.add_argument(
        "--gpus-per-trial",
        type=float,
        default=None,
        help="GPU fraction per trial (ray backend; default 0, or 1/workers when CUDA is there)",
    )
    p.add_argument(
        "--report",
        action="store_true",
        help="write OUT/report/ (genpolicy report) after each finished trial and at the end; "
        "trials that the earlier "
        "OUT/report/results.json holds finished, their run folders gone, are not trained "
        "again and stay in it",
    )
    p.set_defaults(func=_sweep)


def select_trials(trials: list[Any], patterns: list[str]) -> list[Any]:
    """The trials whose id matches one of the shell ``patterns`` (all when none given)."""
    if not patterns:
        return trials
    from genpolicy.errors import GenpolicyError

    chosen = [t for t in trials if any(fnmatch.fnmatchcase(t.id, p) for p in patterns)]
    if not chosen:
        raise GenpolicyError(
            f"--only {' '.join(patterns)} matches none of the {len(trials)} trial ids "
            "(list them with --dry-run)"
        )
    return chosen


def check_device(device: str, backend: str) -> None:
    """Fail early, with the fix, for a ``--device`` no trial could use."""
    import torch

    from genpolicy.errors import GenpolicyError

    if backend != "local":
        raise GenpolicyError(
            "--device is for the local backend; the ray backend places trials on GPUs with "
            "--gpus-per-trial"
        )
    try:
        kind = torch.device(device).type
    except RuntimeError:
        raise GenpolicyError(
            f"--device {device!r} is not a torch device (cpu, cuda, cuda:1)"
        ) from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise GenpolicyError(
            f"--device {device}: torch sees no CUDA device (this torch is {torch.__version__}); "
            "leave --device out to run on the CPU"
        )


def _sweep(args: argparse.Namespace) -> int:
    from genpolicy.errors import GenpolicyError
    from genpolicy.experiments.reported import reported_trials
    from genpolicy.experiments.spec import check_trials, expand, load_spec

    if args.threads < 1 or (args.workers is not None and args.workers < 1):
        raise GenpolicyError("--threads and --workers must be >= 1")
    if args.population < 1:
        raise GenpolicyError(f"--population must be >= 1, got {args.population}")
    if not args.status_every >= 0:
        raise GenpolicyError(
            f"--status-every must be >= 0 (0: no status lines), got {args.status_every}"
        )
    if args.population > 1 and args.backend == "ray":
        raise GenpolicyError("--population runs on the local backend; drop --backend ray")
    spec = load_spec(args.spec, out=args.out)
    grid = expand(spec, check=False)
    chosen = {t.id for t in select_trials(grid, args.only)}
    reported = reported_trials(spec, grid, chosen, args.threads, args.device)
    again = set(reported.retrained)
    trials = [t for t in grid if t.id in chosen and t.id not in reported.runs or t.id in again]
    check_trials(spec, trials)  # only the chosen trials need their datasets
    _say_reported(reported)
    if spec.search is not None and args.backend != "ray":
        raise GenpolicyError("a spec with 'search' runs on Ray Tune: add --backend ray")
    if args.dry_run:
        from genpolicy.experiments.spec import trial_config
        from genpolicy.experiments.trial import trial_state

        print(f"sweep {spec.name}: {len(trials)} trial(s) -> {spec.out}/runs/")
        for t in grid:
            if t.id in reported.runs:
                state = "reported"
            elif t.id in chosen or t.id in again:
                state = trial_state(trial_config(spec, t, args.threads))
            else:
                continue
            print(f"  {t.id:50s} [{state}] {json.dumps(t.params, default=str)}")
        if spec.search is not None:
            print(f"  x {spec.search.samples} sample(s) of {sorted(spec.search.space)} each")
        return 0
    if args.device is not None:
        check_device(args.device, args.backend)
    from genpolicy.data.writers import writable_folder

    writable_folder(spec.out)  # before any trial starts
    if args.backend == "ray":
        from genpolicy.experiments.ray_backend import best_trial, require_ray, run_ray

        require_ray()
        gpus = args.gpus_per_trial
        if gpus is None:
            import torch

            workers = args.workers or 1
            gpus = 1.0 / workers if torch.cuda.is_available() else 0.0
        results = run_ray(
            spec,
            trials,
            address=args.address,
            workers=args.workers,
            threads=args.threads,
            gpus_per_trial=gpus,
        )
        failed = {k: v["error"] for k, v in results.items() if v["error"]}
        for k, err in failed.items():
            print(f"FAILED {k}: {err}", file=sys.stderr)
        if spec.search is not None:
            name, best = best_trial(results, spec.search.metric, spec.search.mode)
            print(
                f"best: {name} {spec.search.metric}={best['metrics'][spec.search.metric]:.4g} "
                f"params {json.dumps(best['params'], default=str)}"
            )
        ok = not failed
    else:
        from genpolicy.experiments.local import run_local

        outcome = run_local(
            spec,
            trials,
            workers=args.workers,
            threads=args.threads,
            status_every=args.status_every,
            device=args.device,
            population=args.population,
            after_trial=(lambda: _write_report(spec, reported, quiet=True))
            if args.report
            else None,
        )
        ok = outcome.ok
        if outcome.interrupted:
            return 130
    if args.report:
        _write_report(spec, reported)
    return 0 if ok else 1


def _write_report(spec: SweepSpec, reported: Reported, quiet: bool = False) -> None:
    """OUT/report/ from the run folders and the runs kept from the earlier report; written
    after each finished trial too (``quiet``), so that it holds every finished run when the
    sweep stops or the machine goes."""
    from genpolicy.errors import GenpolicyError
    from genpolicy.experiments.report import make_report

    try:
        md = make_report(spec.out / "runs", spec.out / "report", kept=reported.kept())
    except (GenpolicyError, OSError) as exc:
        if not quiet:
            raise
        print(f"report: not written now ({exc}); the sweep goes on")
        return
    if not quiet:
        print(f"report: {md}")


def _say_reported(reported: Reported) -> None:
    """What the sweep takes from its earlier report (``genpolicy.experiments.reported``)."""
    where = reported.source
    if reported.runs:
        how = (
            f"; {len(reported.by_overrides)} of them compared by the spec's settings only "
            "(the report predates recorded configs)"
            if reported.by_overrides
            else ""
        )
        print(
            f"sweep: {len(reported.runs)} trial(s) done in {where} (run folders absent): "
            f"not trained again, kept in the next report{how}"
        )
    if reported.outside:
        names = ", ".join(r.name for r in reported.outside)
        print(
            f"sweep: kept from {where}: run(s) trained outside the sweep into its folder: {names}"
        )
    if reported.retrained:
        print(
            f"sweep: trained again for their branches' checkpoints: {', '.join(reported.retrained)}"
        )
    if reported.unfinished:
        print(
            f"sweep: {len(reported.unfinished)} run(s) of {where} stopped short there: "
            f"not kept: {', '.join(reported.unfinished)}"
        )
    if reported.differing:
        print(
            f"sweep: {len(reported.differing)} run(s) of {where} were set up otherwise than "
            f"the spec now says: not kept: {', '.join(reported.differing)}"
        )
