"""The optimiser step and the Polyak (EMA) target update that every algorithm and critic use.

theta <- Adam(theta, grad L)           (``optimizer_step``: zero, backward, clip, step)
theta_bar <- (1 - tau) theta_bar + tau theta          (``polyak_update``)
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn


def optimizer_step(
    opt: torch.optim.Optimizer,
    loss: Tensor,
    *,
    lr: float | None = None,
    grad_clip: float = 0.0,
    report_norm: bool = False,
) -> Tensor | None:
    """zero_grad, backward, clip the gradient norm (``grad_clip`` > 0), set ``lr``, step.

    Returns the gradient norm before clipping when clipping or ``report_norm``, else None.
    """
    opt.zero_grad(set_to_none=True)
    loss.backward()
    return clip_and_step(opt, lr=lr, grad_clip=grad_clip, report_norm=report_norm)


def clip_and_step(
    opt: torch.optim.Optimizer,
    *,
    lr: float | None = None,
    grad_clip: float = 0.0,
    report_norm: bool = False,
) -> Tensor | None:
    """The second half of ``optimizer_step``, for gradients already accumulated in ``.grad``.

    Clips the gradient norm (``grad_clip`` > 0), sets ``lr`` and steps; returns the norm
    before clipping when clipping or ``report_norm``, else None.
    """
    norm = None
    if grad_clip > 0 or report_norm:
        params = [p for group in opt.param_groups for p in group["params"] if p.grad is not None]
        # grad_clip 0 with report_norm: a bound of 1e30 only measures the norm
        norm = torch.nn.utils.clip_grad_norm_(params, grad_clip if grad_clip > 0 else 1e30)
    if lr is not None:
        for group in opt.param_groups:
            group["lr"] = lr
    opt.step()
    return norm


LossFn = Callable[..., tuple[Tensor, dict[str, Tensor]]]  # inputs -> (loss, metrics)
NoiseFn = Callable[[torch.Generator | None], dict[str, Tensor]]  # a loss's random draws


class Stepper:
    """How an algorithm's optimiser steps run.

    ``step(opt, loss_fn, args, noise=...)`` computes ``loss, metrics = loss_fn(*args[,
    noise(None)])`` and takes one ``optimizer_step``. The loss is a function of its
    inputs, and its random draws come from ``noise`` (called with a generator, None: the
    global one), so a population of runs (``genpolicy.training.population``) can run the
    same step for every member at once.
    """

    def step(
        self,
        opt: torch.optim.Optimizer,
        loss_fn: LossFn,
        args: tuple[Tensor, ...],
        *,
        lr: float | None = None,
        grad_clip: float = 0.0,
        noise: NoiseFn | None = None,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """One step on ``loss_fn(*args)``; returns the loss and metrics, detached."""
        loss, info = loss_fn(*args, noise(None)) if noise is not None else loss_fn(*args)
        optimizer_step(opt, loss, lr=lr, grad_clip=grad_clip)
        return loss.detach(), {k: v.detach() for k, v in info.items()}


LONE = Stepper()  # a single run's steps


@torch.no_grad()
def polyak_update(target: nn.Module, online: nn.Module, tau: float) -> None:
    """theta_bar <- theta_bar + tau (theta - theta_bar) over all parameters, in one fused op."""
    dst: list[Tensor] = list(target.parameters())
    src: list[Tensor] = list(online.parameters())
    torch._foreach_lerp_(dst, src, tau)


def backward_in_parts(
    loss_terms: Callable[[slice], dict[str, Tensor]], n: int, size: int
) -> dict[str, Tensor]:
    """Accumulate the gradient of a batch mean over ``n`` items, ``size`` items at a time.

    ``loss_terms(part)`` returns ``{"loss": differentiable mean over the part, ...: means of
    other terms}``; each part's loss is scaled by its share of the batch and backpropagated
    at once, so the accumulated gradient is the whole batch's (given the same per-item
    losses). Returns every term's batch mean, detached. Zero the gradients first.
    """
    size = size if 0 < size < n else n
    totals: dict[str, Tensor] = {}
    for start in range(0, n, size):
        part = slice(start, min(start + size, n))
        terms = loss_terms(part)
        share = (part.stop - part.start) / n
        (terms["loss"] * share).backward()
        for k, v in terms.items():
            v = v.detach() * share
            totals[k] = totals[k] + v if k in totals else v
    return totals
