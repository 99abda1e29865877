"""Fixed-step numerics: ODE solvers, Euler-Maruyama, flow-map jumps, CNF log-likelihood.

A *field* is a callable ``field(x, t) -> dx/dt`` with ``x`` a (B, D) tensor and ``t`` a
Python float; time grids are sequences of floats, so a model can cache whatever it
computes per grid point (time embeddings) and no solver step syncs with the device.
Grids may run in either direction: sampling runs from noise (t_max) to data (t_min),
likelihood evaluation the other way.

Differentiating through a solver keeps every step's activations for the backward pass, so
its memory grows with batch x steps. ``checkpoint=True`` (the integrators below) wraps
each step in activation checkpointing (``torch.utils.checkpoint``, non-reentrant): only
the state between steps is kept and a step's activations are recomputed during its
backward, about one extra forward per step for memory of one step instead of all.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from torch.func import vjp, vmap
from torch.utils.checkpoint import checkpoint as checkpoint_fn

from genpolicy.errors import GenpolicyError, unknown_name

Field = Callable[[Tensor, float], Tensor]
StateField = Callable[[tuple[Tensor, ...], float], tuple[Tensor, ...]]

ODE_SOLVERS = ("euler", "heun", "midpoint", "rk4")
DIVERGENCES = ("exact", "hutchinson")
EXACT_DIVERGENCE_MAX_DIM = 32


def _axpy(x: tuple[Tensor, ...], h: float, k: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    return tuple(torch.add(xi, ki, alpha=h) for xi, ki in zip(x, k, strict=True))


def _step(f: StateField, x: tuple[Tensor, ...], t: float, h: float, method: str):
    if method == "euler":
        return _axpy(x, h, f(x, t))
    if method == "midpoint":
        k1 = f(x, t)
        return _axpy(x, h, f(_axpy(x, 0.5 * h, k1), t + 0.5 * h))
    if method == "heun":
        k1 = f(x, t)
        k2 = f(_axpy(x, h, k1), t + h)
        return tuple(xi + 0.5 * h * (a + b) for xi, a, b in zip(x, k1, k2, strict=True))
    if method == "rk4":
        k1 = f(x, t)
        k2 = f(_axpy(x, 0.5 * h, k1), t + 0.5 * h)
        k3 = f(_axpy(x, 0.5 * h, k2), t + 0.5 * h)
        k4 = f(_axpy(x, h, k3), t + h)
        return tuple(
            xi + (h / 6.0) * (a + 2.0 * b + 2.0 * c + d)
            for xi, a, b, c, d in zip(x, k1, k2, k3, k4, strict=True)
        )
    raise unknown_name("ODE solver", method, ODE_SOLVERS)


def check_solver(method: str) -> None:
    if method not in ODE_SOLVERS:
        raise unknown_name("ODE solver", method, ODE_SOLVERS)


def stage_times(ts: Sequence[float], method: str) -> list[float]:
    """Every time at which ``method`` evaluates the field on grid ``ts`` (for caching)."""
    check_solver(method)
    out: list[float] = []
    for t0, t1 in zip(ts[:-1], ts[1:], strict=True):
        h = t1 - t0
        if method == "euler":
            out.append(t0)
        elif method == "midpoint":
            out += [t0, t0 + 0.5 * h]
        elif method == "heun":
            out += [t0, t0 + h]
        else:
            out += [t0, t0 + 0.5 * h, t0 + h]
    return sorted(set(out))


def _checkpointed_step(
    f: StateField, x: tuple[Tensor, ...], t: float, h: float, method: str
) -> tuple[Tensor, ...]:
    """``_step`` whose activations are recomputed in the backward pass instead of kept."""

    def run(*xs: Tensor) -> tuple[Tensor, ...]:
        return _step(f, xs, t, h, method)

    return tuple(checkpoint_fn(run, *x, use_reentrant=False))


def odeint_state(
    f: StateField,
    x: tuple[Tensor, ...],
    ts: Sequence[float],
    method: str,
    checkpoint: bool = False,
) -> tuple[Tensor, ...]:
    """Integrate a tuple-valued state along the grid ``ts``; returns the final state.

    ``checkpoint``: checkpoint every step when gradients are on (see the module notes).
    """
    check_solver(method)
    if len(ts) < 2:
        raise GenpolicyError("a time grid needs at least two points")
    step = _checkpointed_step if checkpoint and torch.is_grad_enabled() else _step
    for t0, t1 in zip(ts[:-1], ts[1:], strict=True):
        x = step(f, x, t0, t1 - t0, method)
    return x


def odeint(
    field: Field, x: Tensor, ts: Sequence[float], method: str = "euler", checkpoint: bool = False
) -> Tensor:
    """Integrate dx/dt = field(x, t) along ``ts`` with a fixed-step method."""
    return odeint_state(lambda s, t: (field(s[0], t),), (x,), ts, method, checkpoint)[0]


# -- divergence ----------------------------------------------------------------------------
def _own_divergence(
    field: Field, x: Tensor, t: float, probe: Tensor | None = None
) -> tuple[Tensor, Tensor] | None:
    """The field's own ``with_divergence(x, t, probe)``: (field(x, t), div) exactly, or
    eps^T J eps with a probe eps; None where it has none or cannot (then torch.func)."""
    own = getattr(field, "with_divergence", None)
    return None if own is None else own(x, t, probe)


def divergence_exact(field: Field, x: Tensor, t: float) -> tuple[Tensor, Tensor]:
    """(field(x, t), div_x field) with the exact trace of the Jacobian.

    A field with a ``with_divergence`` method (``_own_divergence``; the ODE models'
    fields, through ``jacobian_trace``) computes both itself. Otherwise the rows e_i^T J
    by reverse mode (``torch.func.vjp``, batched with ``vmap`` over the basis vectors), so
    a gradient of the divergence is reverse-over-reverse. Not forward mode: in torch 2.13
    backpropagating through ``torch.func.jvp`` of ``F.layer_norm`` is wrong
    (``jacobian_trace``); double backward is right (``tests/generative/test_exact_trace.py``).
    """
    pair = _own_divergence(field, x, t)
    if pair is not None:
        return pair
    d = x.shape[-1]
    out, row_of = vjp(lambda y: field(y, t), x)[:2]
    basis = torch.eye(d, dtype=x.dtype, device=x.device).unsqueeze(1).expand(d, *x.shape)
    (rows,) = vmap(row_of)(basis)  # rows: (d, B, d), rows[i] = e_i^T J
    div = torch.diagonal(rows, dim1=0, dim2=2).sum(-1)
    return out, div


def divergence_hutchinson(field: Field, x: Tensor, t: float, eps: Tensor) -> tuple[Tensor, Tensor]:
    """(field(x, t), eps^T J eps): an unbiased estimate of the divergence for E[eps eps^T] = I.

    By the field's own ``with_divergence`` where it has one, else one ``vjp`` (see
    ``divergence_exact``)."""
    pair = _own_divergence(field, x, t, eps)
    if pair is not None:
        return pair
    out, row_of = vjp(lambda y: field(y, t), x)[:2]
    (row,) = row_of(eps)  # eps^T J
    return out, (row * eps).sum(-1)


def odeint_with_divergence(
    field: Field,
    x: Tensor,
    ts: Sequence[float],
    method: str = "rk4",
    divergence: str = "exact",
    generator: torch.Generator | None = None,
    checkpoint: bool = False,
) -> tuple[Tensor, Tensor]:
    """Integrate x along ``ts`` together with l(t) = integral of div field dt from ts[0].

    Returns (x_end, l_end). Along a trajectory d log p_t(x_t)/dt = -div field, so
    log p_{ts[-1]}(x_end) = log p_{ts[0]}(x_start) - l_end. Hutchinson uses one Rademacher
    probe per sample, fixed along the trajectory (as in FFJORD). ``checkpoint``: activation
    checkpointing of every step (same values and gradients, less memory, more time).
    """
    if divergence not in DIVERGENCES:
        raise unknown_name("divergence estimator", divergence, DIVERGENCES)
    if divergence == "hutchinson":
        eps = torch.randint(0, 2, x.shape, generator=generator, device=x.device).to(x.dtype)
        eps = 2.0 * eps - 1.0

        def f(s: tuple[Tensor, ...], t: float) -> tuple[Tensor, ...]:
            return divergence_hutchinson(field, s[0], t, eps)
    else:

        def f(s: tuple[Tensor, ...], t: float) -> tuple[Tensor, ...]:
            return divergence_exact(field, s[0], t)

    zero = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    x = x.contiguous()  # forward-mode AD writes into x's dual; an expanded view cannot take it
    x_end, l_end = odeint_state(f, (x, zero), ts, method, checkpoint)
    return x_end, l_end


def gaussian_log_prob(x: Tensor, std: float) -> Tensor:
    """log N(x; 0, std^2 I), summed over the last dimension."""
    d = x.shape[-1]
    return -0.5 * (x * x).sum(-1) / std**2 - d * (math.log(std) + 0.5 * math.log(2 * math.pi))


# -- stochastic and flow-map samplers -------------------------------------------------------
def euler_maruyama(
    drift: Field,
    diffusion: Callable[[float], float],
    x: Tensor,
    ts: Sequence[float],
    generator: torch.Generator | None = None,
    noise_last_step: bool = False,
) -> Tensor:
    """Euler-Maruyama for dx = drift(x, t) dt + g(t) dW along ``ts`` (either direction).

    For the reverse-time SDE pass the reverse drift f x - g^2 score and a decreasing grid.
    The last step adds no noise unless ``noise_last_step`` (the usual denoising convention).
    """
    if len(ts) < 2:
        raise GenpolicyError("a time grid needs at least two points")
    n = len(ts) - 1
    for i, (t0, t1) in enumerate(zip(ts[:-1], ts[1:], strict=True)):
        h = t1 - t0
        x = x + h * drift(x, t0)
        if i < n - 1 or noise_last_step:
            xi = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            x = x + diffusion(t0) * math.sqrt(abs(h)) * xi
    return x


def flow_map_jumps(
    flow_map: Callable[[Tensor, float, float], Tensor], x: Tensor, ts: Sequence[float]
) -> Tensor:
    """Apply a learned solution map x_s = Phi(x_t, t, s) along the grid: len(ts) - 1 jumps."""
    if len(ts) < 2:
        raise GenpolicyError("a time grid needs at least two points")
    for t0, t1 in zip(ts[:-1], ts[1:], strict=True):
        x = flow_map(x, t0, t1)
    return x
