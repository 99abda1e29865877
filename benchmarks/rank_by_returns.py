"""Does any action-value ranking help a behaviour model? Rank its samples by other scores.

On hopper-medium-v5 acting with the best of 16 behaviour-model samples by the
IQL critic's Q scores far below one sample, for every critic we trained. This asks whether
the fault is the TD critic or the data: the run's behaviour policy acts with N candidates
ranked by

* ``critic``: the run's own critic (``genpolicy evaluate --candidates N``);
* ``mc<gamma>``: a Monte-Carlo critic, an MLP (2 x 256, SiLU) regressed for ``--fit-steps``
  updates (batch 512, Adam 3e-4) onto the dataset's discounted return-to-go with that
  gamma, within each episode (gamma 1: the undiscounted return the score counts; an
  episode cut by a timeout is not bootstrapped, so its last states' returns are short);
* ``random``: the same MLP untrained, a score with no information, so a control for what
  picking the extreme of N samples does by itself;

and ``sampled``: one sample, no ranking. Each setting runs the same episodes (the run's
evaluation seed).

    OMP_NUM_THREADS=1 python benchmarks/rank_by_returns.py \
        benchmarks/results/gmpg-pretrain/runs/hopper-medium-v5-s{0,1} \
        --gammas 0.99 0.999 1 --out benchmarks/results/rank_by_returns.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from genpolicy.data.dataset import episode_ends_of
from genpolicy.data.readers import load_dataset
from genpolicy.envs.evaluate import evaluate, score_task
from genpolicy.experiments.jsonio import compact_json
from genpolicy.training.policy import Policy, load_policy


def returns_to_go(rewards: np.ndarray, ends: np.ndarray, gamma: float) -> np.ndarray:
    """sum_k gamma^k r_(t+k) up to each transition's episode end."""
    out = np.zeros(len(rewards), dtype=np.float64)
    start = 0
    for end in ends:
        g = 0.0
        for i in range(int(end), start - 1, -1):
            g = float(rewards[i]) + gamma * g
            out[i] = g
        start = int(end) + 1
    return out


def mlp(in_dim: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(in_dim, 256), nn.SiLU(), nn.Linear(256, 256), nn.SiLU(), nn.Linear(256, 1)
    )


def fit(net: nn.Module, x: Tensor, y: Tensor, steps: int, seed: int) -> float:
    """Regress net(x) onto standardised y; the last batch's loss."""
    y = (y - y.mean()) / y.std()
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=3e-4)
    loss = torch.zeros(())
    for _ in range(steps):
        idx = torch.randint(0, len(y), (512,), generator=gen)
        loss = ((net(x[idx]).squeeze(-1) - y[idx]) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return float(loss.detach())


def score(actor: Policy, episodes: int) -> float:
    cfg = actor.cfg
    env_id = actor.ckpt.get("env_id") or cfg.data.env_id
    result = evaluate(actor.act, env_id, episodes, cfg.train.eval_seed, score_task(env_id))
    assert result.score_mean is not None
    return result.score_mean


def ranked_by(actor: Policy, net: nn.Module) -> Policy:
    net.eval()

    def q(obs: Tensor, act: Tensor) -> Tensor:
        with torch.no_grad():
            return net(torch.cat([obs, act], -1)).squeeze(-1)

    actor.algo.q_for_ranking = q
    return actor


def probe(run: str, args: argparse.Namespace) -> dict[str, Any]:
    n, eps = args.candidates, args.episodes
    row: dict[str, Any] = {"run": run, "candidates": n, "episodes": eps}
    row["sampled"] = score(load_policy(run, candidates=1), eps)
    row["critic"] = score(load_policy(run, candidates=n), eps)
    actor = load_policy(run, candidates=n)
    algo = actor.algo
    data = load_dataset(actor.cfg.data.dataset, normalize_obs=False)
    x = torch.cat([(data.observations - algo.obs_shift) / algo.obs_scale, data.actions], -1)
    torch.manual_seed(args.seed)
    row["random"] = score(ranked_by(actor, mlp(x.shape[1])), eps)
    ends = episode_ends_of(data.terminals.numpy(), data.timeouts.numpy())
    rewards = data.rewards.numpy()
    for gamma in args.gammas:
        torch.manual_seed(args.seed)
        net = mlp(x.shape[1])
        t0 = time.perf_counter()
        y = torch.tensor(returns_to_go(rewards, ends, gamma), dtype=torch.float32)
        loss = fit(net, x, y, args.fit_steps, args.seed)
        key = f"mc{gamma:g}"
        row[key] = score(ranked_by(load_policy(run, candidates=n), net), eps)
        row[f"{key}_fit_loss"] = loss
        row[f"{key}_seconds"] = time.perf_counter() - t0
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}))
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="run folders of generative policies with a critic")
    ap.add_argument("--gammas", type=float, nargs="+", default=[0.99, 1.0])
    ap.add_argument("--candidates", type=int, default=16)
    ap.add_argument("--episodes", type=int, default=20)
    ap.add_argument("--fit-steps", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = [probe(run, args) for run in args.runs]
    if args.out:
        Path(args.out).write_text(compact_json({"argv": vars(args), "rows": rows}))


if __name__ == "__main__":
    main()
