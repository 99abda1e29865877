"""Pictures of a report: learning curves per dataset and the toy bandit's action plots."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from genpolicy.experiments.report.runs import ACTION_SEED, ACTION_STATES, RunRecord

LEGEND_ROWS = 30  # legend entries per column of a learning-curve plot


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def slug(text: str) -> str:
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
    n = len(ax.get_legend_handles_labels()[1])
    ncol = max(1, math.ceil(n / LEGEND_ROWS))  # many groups: more columns, never clipped
    if n > LEGEND_ROWS:  # a taller figure for a long legend beside the axes
        fig.set_size_inches(9.5, max(4.8, 0.18 * LEGEND_ROWS + 1.0))
    ax.legend(
        fontsize=8 if n <= LEGEND_ROWS else 6,
        ncol=ncol,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        borderaxespad=0.0,
    )
    # the saved picture grows to hold the legend (tight_layout would warn and clip it)
    fig.savefig(path, dpi=80, bbox_inches="tight")
    palette_png(path)


PALETTE_COLOURS = 128  # a report's curves keep their look in a quarter of the bytes


def palette_png(path: Path) -> None:
    """Rewrite the PNG at ``path`` with a palette of ``PALETTE_COLOURS`` colours, so that
    reports committed beside their results stay small (the same picture gives the same bytes)."""
    from PIL import Image

    with Image.open(path) as im:
        rgba = im.convert("RGBA")
    flat = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
    small = flat.quantize(PALETTE_COLOURS)
    small.save(path, optimize=True)


def action_pictures(runs: list[RunRecord], out: Path) -> dict[str, Any]:
    """Toy-bandit runs: the first seed of each group acting on behaviour states (PNG + mode
    fractions); a group whose checkpoint cannot be loaded gets a note instead."""
    toy = [r for r in runs if r.toy]
    if not toy:
        return {}
    import torch

    from genpolicy.envs import toy_bandit
    from genpolicy.training.checkpoint import exists, load_algorithm

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
            algo, _, _ = load_algorithm(run.path)
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
        palette_png(out / name)
        result["png"] = name
    return result
