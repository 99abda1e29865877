"""``genpolicy demo``: train a generative model on the 2-D toy and plot its samples.

A fresh install's smoke test of the generative core: a state-conditioned, multi-modal
distribution, learned in about a minute on one CPU core, with a PNG of data next to
samples and the sliced Wasserstein distance printed for each state.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from genpolicy.errors import GenpolicyError
from genpolicy.generative.models import ModelConfig, build_model, has_capability
from genpolicy.generative.toy import TwoToys, fit_toy, sliced_wasserstein


def run_demo(
    out: Path, kind: str, path: str, steps: int, sample_steps: int, seed: int, overwrite: bool
) -> dict[str, float]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for flag, value in (("--steps", steps), ("--sample-steps", sample_steps)):
        if value < 1:
            raise GenpolicyError(f"{flag} must be >= 1, got {value}")
    png = out / "demo.png"
    if png.exists() and not overwrite:
        raise GenpolicyError(f"{png} exists; pass --overwrite or choose another --out")
    try:  # a folder that cannot be written fails now, not after the training
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise GenpolicyError(
            f"cannot write {out} ({exc.strerror or exc}); choose a writable folder with --out"
        ) from None
    torch.manual_seed(seed)
    toy = TwoToys()
    cfg = ModelConfig(kind=kind, path=path, hidden=128, steps=sample_steps)
    model = build_model(cfg, action_dim=2, state_dim=1)
    lr = 1e-3 if has_capability(model, "flow_map") else 3e-3  # the consistency loss wants less
    start = time.perf_counter()
    fit_toy(model, toy, steps=steps, lr=lr, seed=seed, progress=f"{kind}/{path}")
    train_s = time.perf_counter() - start
    g = torch.Generator().manual_seed(seed + 1)  # fresh draws for the comparison

    fig, axes = plt.subplots(2, 2, figsize=(8, 8), sharex=True, sharey=True)
    result: dict[str, float] = {"train_seconds": train_s, "steps": steps}
    for row, state in enumerate((-1.0, 1.0)):
        data = toy.sample_given(state, 2000, g)
        with torch.no_grad():
            samples = model.sample(torch.full((2000, 1), state), generator=g)
        swd = sliced_wasserstein(samples, data)
        result[f"swd_state_{state:+.0f}"] = swd
        for col, (pts, title) in enumerate(((data, "data"), (samples, f"samples, SWD {swd:.3f}"))):
            ax = axes[row, col]
            ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.4)
            ax.set_title(f"state {state:+.0f}: {title}")
            ax.set_xlim(-1.2, 1.2)
            ax.set_ylim(-1.2, 1.2)
            ax.set_aspect("equal")
    fig.suptitle(f"{kind} model on the {path} path, {sample_steps}-step sampler")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
    (out / "demo.json").write_text(json.dumps(result, indent=2))
    return result


def _cmd(args: argparse.Namespace) -> int:
    out = Path(args.out)
    res = run_demo(
        out, args.kind, args.path, args.steps, args.sample_steps, args.seed, args.overwrite
    )
    swd = ", ".join(f"{k} {v:.3f}" for k, v in res.items() if k.startswith("swd"))
    print(f"trained in {res['train_seconds']:.1f} s; {swd}; wrote {out / 'demo.png'}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="train a generative model on a 2-D toy and plot samples",
        description="A smoke test of the generative core: train a state-conditioned model "
        "on a multi-modal 2-D toy (about a minute on one CPU core), write demo.png (data "
        "next to samples) and demo.json under --out, and print the sliced Wasserstein "
        "distance per state.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--kind", default="flow", choices=["diffusion", "flow", "flowmap"])
    p.add_argument("--path", default="linear", choices=["vp", "gvp", "linear", "ve"])
    p.add_argument("--steps", type=int, default=1500, help="training steps")
    p.add_argument("--sample-steps", type=int, default=32, help="ODE steps (flow map: jumps)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/demo", help="output folder for demo.png / demo.json")
    p.add_argument("--overwrite", action="store_true", help="replace an existing demo.png")
    p.set_defaults(func=_cmd)
