"""``genpolicy loglik-error RUN``: the log-likelihood error of a trained model's solver.

GMPG's loss uses log pi(a|s) and log mu(a|s) integrated with a few solver steps
(``algo.grad_steps`` of ``algo.grad_solver``). This command measures what that costs in
accuracy on the run's own trained model: for states from the run's dataset and actions
sampled from the model, the configured integration is compared with a fine reference
(``--reference-steps`` RK4 steps, exact divergence), in nats per sample.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from typing import Any

import torch


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "loglik-error",
        help="log-likelihood error of a trained ODE policy's solver against a fine reference",
        description=(__doc__ or "").replace("``", ""),  # plain text, not reStructuredText
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("checkpoint", help="run directory or checkpoint file")
    p.add_argument("--states", type=int, default=256, help="states drawn from the dataset")
    p.add_argument("--steps", type=int, default=None, help="default: algo.grad_steps")
    p.add_argument("--solver", default=None, help="default: algo.grad_solver, else rk4")
    p.add_argument("--divergence", default=None, help="exact | hutchinson (default: the run's)")
    p.add_argument(
        "--grid-power",
        type=float,
        default=None,
        help="time grid of the configured integration (default: model.grid_power; the "
        "reference always uses equally spaced times)",
    )
    p.add_argument("--reference-steps", type=int, default=1000)
    p.add_argument("--model", choices=("policy", "behaviour"), default="policy")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_run)


def loglik_error(
    model: Any,
    states: torch.Tensor,
    steps: int,
    solver: str,
    divergence: str | None,
    reference_steps: int,
    generator: torch.Generator,
    grid_power: float | None = None,
) -> dict[str, float]:
    """Errors of ``steps`` x ``solver`` (on a time grid of ``grid_power``, default the
    model's) against ``reference_steps`` RK4 steps (exact divergence, equally spaced)."""
    own = model.cfg
    with torch.no_grad():
        actions = model.sample(states, generator=generator).clamp(-1.0, 1.0)
        try:
            if grid_power is not None:
                model.cfg = dataclasses.replace(own, grid_power=grid_power)
            t0 = time.perf_counter()
            approx = model.log_prob(actions, states, steps, solver, divergence, generator)
            t1 = time.perf_counter()
            model.cfg = dataclasses.replace(own, grid_power=1.0)
            ref = model.log_prob(actions, states, reference_steps, "rk4", "exact")
        finally:
            model.cfg = own
    err = (approx - ref).abs()
    return {
        "mean_abs_error_nats": float(err.mean()),
        "max_abs_error_nats": float(err.max()),
        "mean_bias_nats": float((approx - ref).mean()),
        "reference_logp_mean": float(ref.mean()),
        "seconds_configured": t1 - t0,
    }


def _run(args: argparse.Namespace) -> int:
    from genpolicy.errors import GenpolicyError
    from genpolicy.training.checkpoint import load_algorithm
    from genpolicy.training.run_data import load_data

    algo, cfg, ckpt = load_algorithm(args.checkpoint)
    model = getattr(algo, args.model, None)
    if model is None or not hasattr(model, "sample_with_log_prob"):
        raise GenpolicyError(
            f"{cfg.algo.name} has no {args.model} model with a likelihood; this command needs a "
            "diffusion or flow policy (GMPG, GMPO, generative BC)"
        )
    if args.states < 1 or args.reference_steps < 1:
        raise GenpolicyError("--states and --reference-steps must be >= 1")
    if args.steps is not None and args.steps < 1:  # 0 would silently mean the default
        raise GenpolicyError(
            f"--steps must be >= 1 (leave it out for algo.grad_steps), got {args.steps}"
        )
    if args.grid_power is not None and not args.grid_power > 0:
        raise GenpolicyError(f"--grid-power must be > 0, got {args.grid_power}")
    power = model.cfg.grid_power if args.grid_power is None else args.grid_power
    steps = args.steps or int(getattr(cfg.algo, "grad_steps", 10))
    solver = args.solver or str(getattr(cfg.algo, "grad_solver", "rk4"))
    divergence = args.divergence or getattr(cfg.algo, "divergence", None)
    data = load_data(cfg)
    gen = torch.Generator().manual_seed(args.seed)
    states = data.sample(args.states, generator=gen).observations  # normalised, as in training
    out = {
        "checkpoint": str(args.checkpoint),
        "step": ckpt["step"],
        "model": args.model,
        "states": args.states,
        "configured": {
            "steps": steps,
            "solver": solver,
            "divergence": divergence,
            "grid_power": power,
        },
        "reference": {
            "steps": args.reference_steps,
            "solver": "rk4",
            "divergence": "exact",
            "grid_power": 1.0,
        },
        **loglik_error(model, states, steps, solver, divergence, args.reference_steps, gen, power),
    }
    print(json.dumps(out, indent=2))
    return 0
