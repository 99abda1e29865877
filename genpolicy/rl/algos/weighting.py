"""Advantage weights of weighted matching and regression (AWR, IQL, GMPO, GTP), with the
effective-sample-size floor that bounds how few samples a batch rests on."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from genpolicy.errors import GenpolicyError, unknown_name

WEIGHTINGS = ("exp", "std_positive")


def check_weighting(weighting: str, weight_clamp: float, min_ess: float) -> None:
    """The advantage-weight settings every weighted algorithm shares (``advantage_weights``)."""
    if weighting not in WEIGHTINGS:
        raise unknown_name("algo.weighting", weighting, WEIGHTINGS)
    if not weight_clamp > 0:
        raise GenpolicyError(f"algo.weight_clamp must be > 0, got {weight_clamp}")
    if not 0.0 <= min_ess <= 1.0:
        raise GenpolicyError(f"algo.min_ess must be in [0, 1] (0: off), got {min_ess}")


def effective_sample_size(w: Tensor) -> Tensor:
    """(sum w)^2 / (B sum w^2) over the last dimension, in (0, 1]: the fraction of a batch
    of B samples that weights ``w`` effectively keep (near 0: a few samples carry the loss)."""
    return w.sum(-1).square() / (w.square().sum(-1) * w.shape[-1]).clamp_min(1e-12)


def weight_stats(w: Tensor) -> dict[str, Tensor]:
    """Mean, max and effective sample size of a batch's weights."""
    w = w.detach()
    ess = effective_sample_size(w)
    return {"policy/weight_mean": w.mean(), "policy/weight_max": w.max(), "policy/weight_ess": ess}


ESS_GRID = 64  # resolution of the temperature search of ``min_ess``


def advantage_weights(
    adv: Tensor,
    scheme: str,
    beta: float | Tensor,
    clamp: float,
    eps: float = 1e-3,
    self_normalize: bool = False,
    min_ess: float = 0.0,
) -> Tensor:
    """Per-sample weights of advantage-weighted matching/regression (no gradient).

    * ``exp``: min(exp(beta A), clamp) (AWR, IQL, GMPO),
    * ``std_positive``: min(exp(beta max(0, A) / (std_batch(A) + eps)), clamp) (GTP; the
      weight never drops below 1 and beta is in batch standard deviations),

    with ``min_ess`` > 0, beta is lowered for this batch (to the largest of ``ESS_GRID``
    evenly spaced fractions of it) until the effective sample size (sum w)^2 / (B sum w^2)
    is at least ``min_ess``: the batch never rests on fewer than min_ess * B samples (all
    candidates at once and picked on the device, no host synchronisation). With
    ``self_normalize`` the weights are divided by their batch mean, so they average to 1.
    ``beta`` may be a 0-dim tensor (a population member's own temperature).
    """
    adv = adv.detach()
    if scheme == "exp":
        pos, scale = adv, None
    elif scheme == "std_positive":
        pos = adv.clamp(min=0.0)
        scale = adv.std() + eps if adv.numel() > 1 else adv.new_tensor(1.0)
    else:
        raise unknown_name("algo.weighting", scheme, WEIGHTINGS)

    def weights(b: Tensor | float) -> Tensor:
        x = b * pos if scale is None else b * pos / scale
        return torch.exp(x).clamp(max=clamp)

    if isinstance(beta, float | int) and beta == 0:
        w = torch.ones_like(adv)
    elif min_ess > 0:
        fractions = torch.linspace(1.0, 0.0, ESS_GRID + 1, device=adv.device, dtype=adv.dtype)
        ws = weights((beta * fractions)[:, None])  # (grid, B), largest beta first
        ess = effective_sample_size(ws)
        first = torch.argmax((ess >= min_ess).to(torch.int8))  # fraction 0 always passes
        w = ws.index_select(0, first.view(1)).squeeze(0)  # a tensor op: no host sync
    else:
        w = weights(beta)
    if self_normalize:
        w = w / w.mean()
    return w


def config_weights(adv: Tensor, cfg: Any, beta: float | Tensor | None = None) -> Tensor:
    """``advantage_weights`` with an algorithm config's ``weighting``, ``beta`` (unless
    ``beta`` is given), ``weight_clamp``, ``self_normalize`` and ``min_ess`` (IQL, GMPO)."""
    return advantage_weights(
        adv,
        cfg.weighting,
        cfg.beta if beta is None else beta,
        cfg.weight_clamp,
        self_normalize=cfg.self_normalize,
        min_ess=cfg.min_ess,
    )
