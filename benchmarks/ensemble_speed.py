"""Training-step time of a Q ensemble: genpolicy's ``EnsembleMLP`` (members run one after
another with ``F.linear``) against one batched matmul per layer (the layout before) and
against ``n`` separate ``nn.Sequential`` MLPs (what reference code bases use).

One step = forward, squared TD-style loss summed over members, backward, Adam step. The
variants alternate within each round, so a busy machine slows them alike; the median of
the rounds is reported.

    python benchmarks/ensemble_speed.py --out benchmarks/results/ensemble_speed.json
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from genpolicy.experiments.jsonio import compact_json
from genpolicy.generative.nets import EnsembleMLP, mlp


class BatchedMatmulMLP(nn.Module):
    """The previous layout: weights (n, d_in, d_out), one ``baddbmm`` per layer."""

    def __init__(self, n: int, d_in: int, d_out: int, hidden: int, depth: int) -> None:
        super().__init__()
        self.n = n
        dims = [d_in] + [hidden] * depth + [d_out]
        self.w = nn.ParameterList()
        self.b = nn.ParameterList()
        for a, b in zip(dims[:-1], dims[1:], strict=True):
            bound = 1.0 / math.sqrt(a)
            self.w.append(nn.Parameter(torch.empty(n, a, b).uniform_(-bound, bound)))
            self.b.append(nn.Parameter(torch.empty(n, 1, b).uniform_(-bound, bound)))

    def forward(self, x: Tensor) -> Tensor:
        h = x.unsqueeze(0).expand(self.n, -1, -1)
        for i, (w, b) in enumerate(zip(self.w, self.b, strict=True)):
            h = torch.baddbmm(b, h, w)
            if i < len(self.w) - 1:
                h = torch.relu(h)
        return h


class SeparateMLPs(nn.Module):
    def __init__(self, n: int, d_in: int, d_out: int, hidden: int, depth: int) -> None:
        super().__init__()
        self.members = nn.ModuleList(mlp(d_in, d_out, hidden, depth) for _ in range(n))

    def forward(self, x: Tensor) -> Tensor:
        return torch.stack([m(x) for m in self.members])


def time_variants(n: int, batch: int, d_in: int, rounds: int, reps: int) -> dict[str, float]:
    torch.manual_seed(0)
    nets: dict[str, nn.Module] = {
        "genpolicy": EnsembleMLP(n, d_in, 1, 256, 2),
        "batched_matmul": BatchedMatmulMLP(n, d_in, 1, 256, 2),
        "separate_mlps": SeparateMLPs(n, d_in, 1, 256, 2),
    }
    opts = {k: torch.optim.Adam(v.parameters(), lr=3e-4, foreach=True) for k, v in nets.items()}
    x, y = torch.randn(batch, d_in), torch.randn(batch)

    def step(k: str) -> None:
        loss = (nets[k](x).squeeze(-1) - y).square().mean(dim=1).sum()
        opts[k].zero_grad()
        loss.backward()
        opts[k].step()

    times: dict[str, list[float]] = {k: [] for k in nets}
    for k in nets:  # warm-up
        for _ in range(3):
            step(k)
    for _ in range(rounds):
        for k in nets:
            t = time.perf_counter()
            for _ in range(reps):
                step(k)
            times[k].append((time.perf_counter() - t) / reps)
    return {k: sorted(v)[len(v) // 2] * 1e3 for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--members", default="2,10", help="ensemble sizes, comma-separated")
    ap.add_argument("--batches", default="256,1024,4096", help="batch sizes, comma-separated")
    ap.add_argument("--d-in", type=int, default=23, help="obs + action dims (23: halfcheetah)")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--out", default="", help="write the results as JSON here")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows: list[dict[str, Any]] = []
    for n in (int(v) for v in args.members.split(",")):
        for batch in (int(v) for v in args.batches.split(",")):
            reps = max(1, 2048 // batch)
            ms = time_variants(n, batch, args.d_in, args.rounds, reps)
            row = {"members": n, "batch": batch, "ms_per_step": ms}
            row["speedup_vs_batched_matmul"] = ms["batched_matmul"] / ms["genpolicy"]
            rows.append(row)
            print(
                f"n={n:3d} batch={batch:5d}  "
                + "  ".join(f"{k} {v:7.2f} ms" for k, v in ms.items())
                + f"  (batched/genpolicy {row['speedup_vs_batched_matmul']:.2f}x)"
            )
    if args.out:
        doc = {
            "command": "python benchmarks/ensemble_speed.py "
            + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "out"),
            "torch": torch.__version__,
            "machine": platform.processor() or platform.machine(),
            "threads": 1,
            "hidden": 256,
            "depth": 2,
            "load_average": round(os.getloadavg()[0], 2),
            "ensemble": rows,
        }
        Path(args.out).write_text(compact_json(doc))


if __name__ == "__main__":
    main()
