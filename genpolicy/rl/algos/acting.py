"""Acting with a generative policy: the sampler settings (``ActConfig``) and drawing one
action per state, or several ranked by a critic."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from genpolicy.errors import GenpolicyError


@dataclass
class ActConfig:
    """How a generative policy picks an action at evaluation time."""

    steps: int | None = None  # None: the model's default (model.steps, else its class's)
    solver: str | None = None  # None: likewise (flow maps always jump)
    candidates: int = 1  # 1: one sample; N > 1: N samples ranked by the critic's Q
    noise_scale: float = 1.0  # start noise x_T ~ N(0, (scale * prior std)^2); 0: deterministic


Selector = Callable[[Tensor, torch.Generator | None], Tensor]  # scores (B, N) -> index (B,)


def select_argmax(scores: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """The candidate with the highest score, per state (the default ranking)."""
    return scores.argmax(dim=1)


def select_weighted(weights: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """A candidate drawn with probability weights / sum(weights), per state (importance
    resampling; the weights must be >= 0 with a positive sum in every row)."""
    return torch.multinomial(weights, 1, generator=generator).squeeze(1)


def generative_act(
    model: Any,
    obs: Tensor,
    cfg: ActConfig,
    generator: torch.Generator | None,
    q_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
    select: Selector | None = None,
) -> Tensor:
    """One sample per state, or ``cfg.candidates`` samples scored by ``q_fn(obs, act)``
    and picked by ``select(scores (B, N), generator)`` (default ``select_argmax``: the
    highest Q).

    ``cfg.noise_scale`` scales the start noise: 1 samples the model's distribution, 0 maps
    the prior's mean through the ODE or flow map (one deterministic action per state, near
    the conditional mode for a unimodal behaviour), values between trade the two.
    """

    def draw(states: Tensor) -> Tensor:
        noise = None
        if cfg.noise_scale != 1.0:
            noise = model.draw_prior(states, generator).mul_(cfg.noise_scale)
        return model.sample(
            states, steps=cfg.steps, solver=cfg.solver, generator=generator, noise=noise
        )

    if cfg.candidates <= 1 or q_fn is None:
        return draw(obs)
    b, n = obs.shape[0], cfg.candidates
    rep = obs.repeat_interleave(n, dim=0)
    acts = draw(rep)
    acts = acts.clamp(-1.0, 1.0)
    best = (select or select_argmax)(q_fn(rep, acts).view(b, n), generator)
    return acts.view(b, n, -1)[torch.arange(b, device=obs.device), best]


def check_act_config(cfg: ActConfig, has_critic: bool) -> None:
    if cfg.steps is not None and cfg.steps < 1:
        raise GenpolicyError(f"act.steps must be >= 1, got {cfg.steps}")
    if cfg.candidates < 1:
        raise GenpolicyError(f"act.candidates must be >= 1, got {cfg.candidates}")
    if not cfg.noise_scale >= 0:
        raise GenpolicyError(f"act.noise_scale must be >= 0, got {cfg.noise_scale}")
    if cfg.noise_scale == 0 and cfg.candidates > 1:
        raise GenpolicyError(
            "act.noise_scale=0 makes every candidate the same action; "
            "set act.candidates=1 or act.noise_scale > 0"
        )
    if cfg.candidates > 1 and not has_critic:
        raise GenpolicyError(
            "act.candidates > 1 ranks samples by Q, but this algorithm has no critic; "
            "set act.candidates=1"
        )
