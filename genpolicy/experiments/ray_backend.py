"""The Ray Tune backend (optional extra ``genpolicy[ray]``).

Every grid trial becomes a Tune trial running the same ``run_trial`` as the local backend,
in the same run folder, so a trial gives the same metrics on either backend. Each
evaluation row is reported to Tune (``step`` is the time attribute), which is what ASHA
stops on. With a ``search`` section, Tune samples ``search.samples`` settings from the
space for every grid trial (random search) and an ASHA scheduler stops poor trials early.

A stopped experiment is resumed with Tune's own ``Tuner.restore`` (when the grid is the one
it was started with); the trial function resumes each run from its checkpoint either way.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, TextIO

from genpolicy.errors import GenpolicyError
from genpolicy.experiments.spec import SearchSpec, SweepSpec, Trial, parse_spec, trial_config

RAY_HINT = "pip install -c constraints.txt 'genpolicy[ray]'"


def require_ray() -> Any:
    try:
        import ray
        from ray import tune  # noqa: F401
    except ImportError:
        raise GenpolicyError(
            f"the ray backend needs Ray Tune, which is not installed: {RAY_HINT}"
        ) from None
    return ray


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def searched_trial(base: Trial, sampled: dict[str, Any]) -> Trial:
    """The grid trial ``base`` with sampled overrides (its id names the sampled values)."""
    label = "-".join(f"{k.split('.')[-1]}={_short(v)}" for k, v in sorted(sampled.items()))
    tail = f"s{base.seed}"
    head = base.id[: -len(tail)].rstrip("-") if base.id.endswith(tail) else base.id
    return Trial(
        id="-".join(p for p in (head, label, tail) if p),
        group=f"{base.group} search",
        base=base.base,
        overrides={**base.overrides, **sampled},
        params={**base.params, **sampled},
        seed=base.seed,
        dataset=base.dataset,
    )


def _numbers(row: dict[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in row.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and k != "kind"
    }


def tune_trainable(config: dict[str, Any]) -> None:
    """What each Tune trial runs: one genpolicy trial, every evaluation reported to Tune."""
    from ray import tune

    from genpolicy.experiments.trial import run_trial

    os.chdir(config["cwd"])  # relative dataset and config paths are the driver's
    spec = parse_spec(config["spec"], out=config["out"])
    trial = Trial.from_dict(config["trial"])
    sampled = config.get("sampled") or {}
    if sampled:
        trial = searched_trial(trial, sampled)
    cfg = trial_config(spec, trial, int(config["threads"]))
    if config.get("device"):
        cfg.train.device = str(config["device"])
    reported = 0

    def report(row: dict[str, Any]) -> None:
        nonlocal reported
        reported += 1
        tune.report({**_numbers(row), "step": float(row["step"])})

    summary = run_trial({"trial": trial.to_dict(), "config": cfg.to_dict()}, on_eval=report)
    if not reported and summary.get("last"):  # finished before: report its final evaluation
        report(summary["last"])


def _trial_name(tune_trial: Any) -> str:
    """Tune's name for a trial: the genpolicy trial id."""
    cfg = tune_trial.config
    trial = Trial.from_dict(cfg["trial"])
    return searched_trial(trial, cfg["sampled"]).id if cfg.get("sampled") else trial.id


def _distribution(tune: Any, dist: dict[str, Any]) -> Any:
    ((kind, args),) = dist.items()
    if kind == "choice":
        return tune.choice(list(args))
    if kind == "grid":
        return tune.grid_search(list(args))
    lo, hi = args
    return {"uniform": tune.uniform, "loguniform": tune.loguniform, "randint": tune.randint}[kind](
        lo, hi
    )


def run_ray(
    spec: SweepSpec,
    trials: list[Trial],
    *,
    address: str | None = None,
    workers: int | None = None,
    threads: int = 1,
    gpus_per_trial: float = 0.0,
    stream: TextIO | None = None,
) -> dict[str, Any]:
    """Run the sweep as a Ray Tune experiment; returns {trial id: last reported metrics}."""
    from genpolicy.experiments.local import branch_parents

    parents = branch_parents([(t, trial_config(spec, t, threads)) for t in trials])
    branch = next((t for t, p in parents.items() if p), None)
    if branch is not None:
        raise GenpolicyError(
            f"trial {branch} starts from trial {sorted(parents[branch])[0]}'s run "
            "(train.init_from), and the ray backend does not order trials; use --backend "
            "local, or run the runs it starts from first (--only)"
        )
    ray = require_ray()
    from ray import tune

    out = stream or sys.stdout
    workers = workers or max(1, (os.cpu_count() or 1) // max(1, threads))
    started = not ray.is_initialized()
    if started:
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address:
            kwargs["address"] = address
        else:
            kwargs["num_cpus"] = workers * threads
            # Ray runs its workers at niceness 15; on a machine shared with other jobs that
            # starves the trials (about 15x slower here), so a local instance runs them at
            # the ordinary priority unless RAY_worker_niceness says otherwise.
            os.environ.setdefault("RAY_worker_niceness", "0")
        ray.init(**kwargs)
    out_dir = spec.out.resolve()
    storage = out_dir / "ray"
    exp_path = storage / spec.name
    resources: dict[str, float] = {"cpu": float(threads)}
    if gpus_per_trial > 0:
        resources["gpu"] = gpus_per_trial
    trainable = tune.with_resources(tune_trainable, resources)
    spec_dict = spec.to_dict()
    param_space: dict[str, Any] = {
        "spec": spec_dict,
        "out": str(out_dir),
        "cwd": os.getcwd(),
        "threads": threads,
        "device": "cuda" if gpus_per_trial > 0 else "",
        "trial": tune.grid_search([t.to_dict() for t in trials]),
    }
    search: SearchSpec | None = spec.search
    tune_cfg: dict[str, Any] = {
        "max_concurrent_trials": workers,
        "trial_name_creator": _trial_name,
        "trial_dirname_creator": _trial_name,
    }
    if search is not None:
        from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
        from ray.tune.search.basic_variant import BasicVariantGenerator

        param_space["sampled"] = {k: _distribution(tune, d) for k, d in search.space.items()}
        steps = max(trial_config(spec, t, threads).train.steps for t in trials)
        scheduler: Any = (
            ASHAScheduler(
                time_attr="step",
                max_t=steps,
                grace_period=search.grace_period,
                reduction_factor=search.reduction_factor,
            )
            if search.scheduler == "asha"
            else FIFOScheduler()
        )
        del tune_cfg["max_concurrent_trials"]  # the searcher limits concurrency itself
        tune_cfg.update(
            metric=search.metric,
            mode=search.mode,
            num_samples=search.samples,
            scheduler=scheduler,
            search_alg=BasicVariantGenerator(random_state=search.seed, max_concurrent=workers),
        )
    grid_file = out_dir / "ray-grid.json"
    grid_text = json.dumps({"spec": spec_dict, "trials": [t.id for t in trials]}, sort_keys=True)
    same_grid = grid_file.is_file() and grid_file.read_text() == grid_text
    if same_grid and tune.Tuner.can_restore(str(exp_path)):
        print(f"sweep {spec.name}: resuming the Ray Tune experiment {exp_path}", file=out)
        tuner = tune.Tuner.restore(
            str(exp_path), trainable, resume_unfinished=True, resume_errored=True
        )
    else:
        out_dir.mkdir(parents=True, exist_ok=True)
        grid_file.write_text(grid_text)
        tuner = tune.Tuner(
            trainable,
            param_space=param_space,
            tune_config=tune.TuneConfig(**tune_cfg),
            run_config=tune.RunConfig(name=spec.name, storage_path=str(storage), verbose=1),
        )
    try:
        grid = tuner.fit()
    finally:
        if started:  # a Ray instance this call started ends with it
            ray.shutdown()
    results: dict[str, Any] = {}
    for i in range(len(grid)):
        res = grid[i]
        cfg = res.config or {}
        trial = Trial.from_dict(cfg["trial"])
        if cfg.get("sampled"):
            trial = searched_trial(trial, cfg["sampled"])
        results[trial.id] = {
            "metrics": _numbers(res.metrics or {}),
            "params": trial.params,
            "error": str(res.error) if res.error else None,
        }
    (out_dir / "ray-results.json").write_text(json.dumps(results, indent=2, default=str))
    return results


def best_trial(results: dict[str, Any], metric: str, mode: str) -> tuple[str, dict[str, Any]]:
    """The trial whose last reported ``metric`` is best (ASHA-stopped trials included)."""
    scored = [(k, v) for k, v in results.items() if metric in v["metrics"]]
    if not scored:
        raise GenpolicyError(f"no trial reported {metric!r}; check search.metric")
    sign = 1.0 if mode == "max" else -1.0
    return max(scored, key=lambda kv: sign * kv[1]["metrics"][metric])


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


__all__ = ["best_trial", "ray_available", "require_ray", "run_ray", "tune_trainable"]
