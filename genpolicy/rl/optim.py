"""The optimiser step and the Polyak (EMA) target update that every algorithm and critic use.

theta <- Adam(theta, grad L)           (``optimizer_step``: zero, backward, clip, step)
theta_bar <- (1 - tau) theta_bar + tau theta          (``polyak_update``)

Both run eagerly or inside ``torch.compile`` (``train.compile``) without a graph break or a
host synchronisation: the gradients are zeroed by hand (``Optimizer.zero_grad`` is not
traced) and, while compiling, Adam's step is its functional form (``adam_step``) with the
learning rate a device tensor, so a scheduled learning rate never recompiles. Eagerly, the
step is ``Optimizer.step`` with a Python float, as it always was.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

Lr = float | Tensor | None  # a Python float eagerly; a 0-dim device tensor while compiling


def zero_grads(opt: torch.optim.Optimizer) -> None:
    """``opt.zero_grad(set_to_none=True)``, in a form ``torch.compile`` traces."""
    for group in opt.param_groups:
        for p in group["params"]:
            p.grad = None


def optimizer_step(
    opt: torch.optim.Optimizer,
    loss: Tensor,
    *,
    lr: Lr = None,
    grad_clip: float = 0.0,
    report_norm: bool = False,
) -> Tensor | None:
    """zero_grad, backward, clip the gradient norm (``grad_clip`` > 0), set ``lr``, step.

    The gradient is taken for ``opt``'s parameters only (``torch.autograd.grad``; other
    modules the loss reads, such as a critic steering a policy, get none); a parameter the
    loss does not reach keeps ``grad`` None, as with ``backward``. Returns the gradient norm
    before clipping when clipping or ``report_norm``, else None.
    """
    zero_grads(opt)
    params = [p for group in opt.param_groups for p in group["params"] if p.requires_grad]
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    for p, g in zip(params, grads, strict=True):
        p.grad = g
    return clip_and_step(opt, lr=lr, grad_clip=grad_clip, report_norm=report_norm)


def clip_and_step(
    opt: torch.optim.Optimizer,
    *,
    lr: Lr = None,
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
    if torch.compiler.is_compiling():
        adam_step(opt, lr)
        return norm
    if lr is not None:
        for group in opt.param_groups:
            group["lr"] = float(lr)
    opt.step()
    return norm


LossFn = Callable[..., tuple[Tensor, dict[str, Tensor]]]  # inputs -> (loss, metrics)
NoiseFn = Callable[[torch.Generator | None], dict[str, Tensor]]  # a loss's random draws


class Stepper:
    """How an algorithm's optimiser steps run.

    ``step(opt, loss_fn, args, noise=...)`` computes ``loss, metrics = loss_fn(*args[,
    noise=noise(None)])`` and takes one ``optimizer_step``. The loss is a function of its
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
        lr: Lr = None,
        grad_clip: float = 0.0,
        noise: NoiseFn | None = None,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """One step on ``loss_fn(*args)``; returns the loss and metrics, detached."""
        loss, info = loss_fn(*args, noise=noise(None)) if noise is not None else loss_fn(*args)
        optimizer_step(opt, loss, lr=lr, grad_clip=grad_clip)
        return loss.detach(), {k: v.detach() for k, v in info.items()}


LONE = Stepper()  # a single run's steps


def check_adam(opt: torch.optim.Optimizer) -> torch.optim.Adam:
    """``opt`` if it is a plain Adam (what ``adam_step`` implements), else a one-line error."""
    if type(opt) is not torch.optim.Adam or any(
        g["amsgrad"] or g["differentiable"] for g in opt.param_groups
    ):
        from genpolicy.errors import GenpolicyError

        raise GenpolicyError(
            f"train.compile needs plain Adam optimisers, got {type(opt).__name__}; "
            "set train.compile=off"
        )
    return opt


def init_adam_state(opt: torch.optim.Optimizer) -> None:
    """Create Adam's lazily made state (step, moments) for every trainable parameter now, as
    its first step would, so that a compiled step never sees the state change shape.

    The step counters live on the parameter's device where the group is fused or capturable
    (``Adam``'s own rule), else on the CPU."""
    adam = check_adam(opt)
    for group in adam.param_groups:
        on_device = group["fused"] or group["capturable"]
        for p in group["params"]:
            state = adam.state[p]
            if state and on_device and state["step"].device != p.device:  # e.g. a resume
                state["step"] = state["step"].to(p.device)
            if state or not p.requires_grad:
                continue
            device = p.device if on_device else torch.device("cpu")
            state["step"] = torch.zeros((), dtype=torch.float32, device=device)
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)


@torch.no_grad()
def adam_step(opt: torch.optim.Optimizer, lr: Lr = None) -> None:
    """One step of Adam over the parameters with a gradient, through the functional
    ``torch.optim.adam.adam`` (``Optimizer.step`` breaks a compiled graph twice).

    ``lr``: a float or 0-dim tensor (default: each group's own). It runs Adam's capturable
    form (bias corrections on the device, tensor learning rates) or, for fused groups
    (CUDA), the fused kernel; the state must exist (``init_adam_state``)."""
    from torch.optim.adam import adam

    for group in opt.param_groups:
        params, grads, exp_avgs, exp_avg_sqs, steps = [], [], [], [], []
        for p in group["params"]:
            if p.grad is None:
                continue
            state = opt.state[p]
            params.append(p)
            grads.append(p.grad)
            exp_avgs.append(state["exp_avg"])
            exp_avg_sqs.append(state["exp_avg_sq"])
            steps.append(state["step"])
        if not params:
            continue
        beta1, beta2 = group["betas"]
        fused = bool(group["fused"])
        adam(
            params,
            grads,
            exp_avgs,
            exp_avg_sqs,
            [],
            steps,
            foreach=not fused,
            capturable=not fused,
            fused=fused,
            amsgrad=False,
            beta1=beta1,
            beta2=beta2,
            lr=group["lr"] if lr is None else lr,
            weight_decay=group["weight_decay"],
            eps=group["eps"],
            maximize=group["maximize"],
            decoupled_weight_decay=group.get("decoupled_weight_decay", False),
        )


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
