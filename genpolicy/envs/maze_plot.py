"""Draw a maze's walls with dataset trajectories and policy rollouts (PNG):
``genpolicy maze-plot DATASET [--run RUN_DIR] --out FILE.png``.

Trajectories are drawn in the dataset's frame (``genpolicy.envs.mazes``): the walls come from
the layout of the dataset's environment, so D4RL-frame and Gymnasium-frame data both line up.
Only matplotlib and the dataset are needed; rollouts need the environment (``maze`` extra).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from genpolicy.envs.mazes import MAZE_ENV_IDS, SPECS, Frame, goal_xy, make_frame
from genpolicy.errors import GenpolicyError


def _walls(ax: Any, frame: Frame, layout: np.ndarray) -> None:
    from matplotlib.patches import Rectangle

    half = frame.scale / 2
    for i in range(layout.shape[0]):
        for j in range(layout.shape[1]):
            if layout[i, j]:
                x, y = frame.cell_xy(i, j)
                ax.add_patch(
                    Rectangle((x - half, y - half), 2 * half, 2 * half, color="0.35", lw=0)
                )


def plot_maze(
    env_id: str,
    out: str | Path,
    *,
    trajectories: list[np.ndarray] | None = None,
    rollouts: list[np.ndarray] | None = None,
    title: str = "",
) -> Path:
    """Walls, the goal, dataset trajectories (thin, coloured by time) and rollouts (thick)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if env_id not in MAZE_ENV_IDS:
        raise GenpolicyError(f"{env_id!r} is not a maze environment; use one of genpolicy/...")
    robot, size, frame_name = MAZE_ENV_IDS[env_id]
    frame = make_frame(robot, size, frame_name)
    spec = SPECS[(robot, size)]
    fig, ax = plt.subplots(figsize=(6, 6))
    _walls(ax, frame, spec.layout)
    cmap = plt.get_cmap("viridis")
    for k, tr in enumerate(trajectories or []):
        ax.plot(
            tr[:, 0], tr[:, 1], lw=0.6, alpha=0.6, color=cmap(k / max(len(trajectories or []), 1))
        )
    for tr in rollouts or []:
        ax.plot(tr[:, 0], tr[:, 1], lw=2.2, color="tab:red", alpha=0.9)
        ax.plot(tr[0, 0], tr[0, 1], "o", color="tab:red", ms=5)
    g = goal_xy(spec, frame)
    ax.plot(g[0], g[1], "*", color="gold", mec="k", ms=18, zorder=5, label="goal")
    corners = np.array(
        [
            frame.cell_xy(i, j)
            for i in (0, spec.layout.shape[0] - 1)
            for j in (0, spec.layout.shape[1] - 1)
        ]
    )
    lo, hi = corners.min(0) - frame.scale / 2, corners.max(0) + frame.scale / 2
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(title or env_id, fontsize=10)
    ax.legend(loc="upper right", fontsize=8)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out


def dataset_trajectories(spec: str, episodes: int, seed: int = 0) -> tuple[str, list[np.ndarray]]:
    """``episodes`` random episodes' ``(x, y)`` paths of a maze dataset and its environment."""
    from genpolicy.data import load_dataset

    ds = load_dataset(spec, normalize_obs=False, env_check=False)
    if ds.env_id not in MAZE_ENV_IDS:
        raise GenpolicyError(
            f"{spec}: its environment {ds.env_id!r} is not a maze; pass an AntMaze / PointMaze "
            "dataset"
        )
    ends = ds.episode_ends.cpu().numpy()
    starts = np.concatenate([[0], ends[:-1] + 1])
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(ends), size=min(episodes, len(ends)), replace=False)
    xy = ds.observations[:, :2].cpu().numpy()
    nxt = ds.next_observations[:, :2].cpu().numpy()
    out = [np.concatenate([xy[starts[k] : ends[k] + 1], nxt[ends[k] : ends[k] + 1]]) for k in pick]
    return str(ds.env_id), out


def policy_rollouts(run_dir: str, episodes: int, seed: int) -> tuple[str, list[np.ndarray]]:
    """``(x, y)`` paths of a trained run's policy in its environment."""
    from genpolicy.envs.gym_envs import make_env
    from genpolicy.training.checkpoint import load_algorithm

    algo, _, ckpt = load_algorithm(run_dir)
    env_id = str(ckpt.get("env_id") or "")
    algo.seed_acting(seed)
    act = algo.act
    paths = []
    for e in range(episodes):
        env = make_env(env_id, seed + e)
        obs, _ = env.reset(seed=seed + e)
        path = [obs[:2].copy()]
        done = False
        while not done:
            obs, _, term, trunc, _ = env.step(act(obs[None].astype(np.float32))[0])
            path.append(obs[:2].copy())
            done = bool(term or trunc)
        env.close()
        paths.append(np.array(path))
    return env_id, paths
