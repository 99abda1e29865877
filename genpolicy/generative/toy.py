"""Toy conditional distributions for testing and demonstrating generative models.

``TwoToys`` is a 2-D action distribution conditioned on a 1-D state: state -1 selects eight
Gaussians on a circle, state +1 four Gaussians on the corners of a square. Both are
multi-modal, so a model that regresses to the mean (or a single Gaussian) fails visibly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm import tqdm

from genpolicy.generative.models.base import GenerativeModel


@dataclass(frozen=True)
class TwoToys:
    radius: float = 0.8
    corner: float = 0.5
    std: float = 0.05

    def centres(self, state: float) -> Tensor:
        if state < 0:
            ang = torch.arange(8) * (2 * math.pi / 8)
            return self.radius * torch.stack([torch.cos(ang), torch.sin(ang)], -1)
        c = self.corner
        return torch.tensor([[c, c], [c, -c], [-c, c], [-c, -c]])

    def sample_given(self, state: float, n: int, generator: torch.Generator | None = None):
        centres = self.centres(state)
        idx = torch.randint(0, len(centres), (n,), generator=generator)
        return centres[idx] + self.std * torch.randn(n, 2, generator=generator)

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """(actions (n, 2), states (n, 1)) with the two states equally likely."""
        states = torch.randint(0, 2, (n, 1), generator=generator).float() * 2 - 1
        half = self.sample_given(-1.0, n, generator), self.sample_given(1.0, n, generator)
        actions = torch.where(states < 0, half[0], half[1])
        return actions, states

    def mode_counts(self, state: float, actions: Tensor, k: float = 4.0) -> Tensor:
        """How many actions fall within k std of each mode centre."""
        d = torch.cdist(actions, self.centres(state))
        near = d.min(-1)
        hit = near.values < k * self.std
        return torch.bincount(near.indices[hit], minlength=len(self.centres(state)))


def sliced_wasserstein(x: Tensor, y: Tensor, projections: int = 256, seed: int = 0) -> float:
    """Sliced 2-Wasserstein distance between two equally sized samples (n, d)."""
    if x.shape != y.shape:
        raise ValueError(
            f"samples must have equal shapes, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    g = torch.Generator().manual_seed(seed)
    dirs = torch.randn(x.shape[1], projections, generator=g, dtype=x.dtype)
    dirs = dirs / dirs.norm(dim=0, keepdim=True)
    px, _ = torch.sort(x @ dirs, dim=0)
    py, _ = torch.sort(y @ dirs, dim=0)
    return float(((px - py) ** 2).mean().sqrt())


def fit_toy(
    model: GenerativeModel,
    toy: TwoToys,
    steps: int = 2000,
    batch: int = 512,
    lr: float = 1e-3,
    seed: int = 0,
    progress: str | None = None,
) -> list[float]:
    """Train ``model`` on the toy by plain (unweighted) matching; returns the loss curve.

    ``progress``: show a tqdm bar with this label (loss refreshed every 100 steps).
    """
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=lr * 0.05)
    losses = []
    bar = tqdm(range(steps), desc=progress, unit="step", disable=progress is None)
    for i in bar:
        actions, states = toy.sample(batch, g)
        loss = model.loss(actions, states).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        model.update_target()
        losses.append(loss.detach())
        if progress is not None and i % 100 == 0:
            bar.set_postfix(loss=f"{loss.item():.4f}")
    return [float(v) for v in torch.stack(losses)]
