"""Closed-form checks of the fixed-step solvers, divergences and samplers."""

import math

import pytest
import torch

from genpolicy.errors import GenpolicyError
from genpolicy.generative.solvers import (
    divergence_exact,
    divergence_hutchinson,
    euler_maruyama,
    flow_map_jumps,
    gaussian_log_prob,
    odeint,
    odeint_with_divergence,
    stage_times,
)


def decay_error(method: str, steps: int) -> float:
    """|x(1) - e^{-1}| for dx/dt = -x, x(0) = 1."""
    ts = torch.linspace(0.0, 1.0, steps + 1, dtype=torch.float64).tolist()
    x = odeint(lambda x, t: -x, torch.ones(1, 1, dtype=torch.float64), ts, method)
    return abs(float(x) - math.exp(-1.0))


@pytest.mark.parametrize(
    ("method", "order"), [("euler", 1), ("heun", 2), ("midpoint", 2), ("rk4", 4)]
)
def test_convergence_order(method, order):
    ratio = decay_error(method, 20) / decay_error(method, 40)
    assert ratio == pytest.approx(2**order, rel=0.15)


def test_time_dependent_field_backwards():
    # dx/dt = 2t integrated from t = 1 down to t = 0 subtracts exactly 1 (RK4 is exact here)
    x = odeint(lambda x, t: torch.full_like(x, 2 * t), torch.zeros(3, 2), [1.0, 0.5, 0.0], "rk4")
    torch.testing.assert_close(x, torch.full((3, 2), -1.0))


def test_stage_times_cover_every_evaluation():
    seen: list[float] = []

    def field(x, t):
        seen.append(t)
        return -x

    ts = [1.0, 0.7, 0.2, 0.0]
    for method in ("euler", "heun", "midpoint", "rk4"):
        seen.clear()
        odeint(field, torch.ones(1, 1), ts, method)
        assert set(seen) <= set(stage_times(ts, method))


def linear_field(a: torch.Tensor):
    return lambda x, t: x @ a.T


def test_exact_divergence_is_the_trace():
    a = torch.randn(4, 4)
    x = torch.randn(5, 4)
    out, div = divergence_exact(linear_field(a), x, 0.0)
    torch.testing.assert_close(out, x @ a.T)
    torch.testing.assert_close(div, torch.full((5,), float(torch.trace(a))))


def test_exact_divergence_nonlinear():
    # field_i = x_i^3 -> div = 3 sum x_i^2
    x = torch.randn(6, 3)
    _, div = divergence_exact(lambda x, t: x**3, x, 0.0)
    torch.testing.assert_close(div, 3 * (x**2).sum(-1))


def test_hutchinson_is_unbiased():
    a = torch.randn(3, 3)
    x = torch.randn(20_000, 3)
    eps = torch.randint(0, 2, x.shape).float() * 2 - 1
    _, est = divergence_hutchinson(linear_field(a), x, 0.0, eps)
    # Rademacher probes: variance = sum_{i != j} a_ij (a_ij + a_ji) / ... -> bound with 5 std errors
    se = float(est.std()) / math.sqrt(len(est))
    assert abs(float(est.mean()) - float(torch.trace(a))) < 5 * se + 1e-6


def test_divergence_integral_matches_volume_change():
    # dx/dt = c x: log-volume grows by c * d * T, and x scales by e^{cT}
    c, d = 0.7, 3
    x0 = torch.randn(4, d, dtype=torch.float64)
    ts = torch.linspace(0, 1, 33, dtype=torch.float64).tolist()
    for div in ("exact", "hutchinson"):
        x1, integral = odeint_with_divergence(lambda x, t: c * x, x0, ts, "rk4", div)
        torch.testing.assert_close(x1, x0 * math.exp(c))
        torch.testing.assert_close(integral, torch.full((4,), c * d, dtype=torch.float64))


def test_gaussian_log_prob():
    x = torch.tensor([[0.5, -1.0]])
    std = 2.0
    expected = sum(
        -0.5 * (v / std) ** 2 - math.log(std) - 0.5 * math.log(2 * math.pi) for v in (0.5, -1.0)
    )
    assert float(gaussian_log_prob(x, std)) == pytest.approx(expected)


def test_euler_maruyama_keeps_ou_stationary():
    # dx = -x dt + sqrt(2) dW has N(0, 1) as its stationary law
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(50_000, 1, generator=g)
    ts = torch.linspace(0, 2, 201).tolist()
    x = euler_maruyama(lambda x, t: -x, lambda t: math.sqrt(2.0), x0, ts, g, noise_last_step=True)
    assert float(x.var()) == pytest.approx(1.0, abs=0.04)
    assert abs(float(x.mean())) < 0.03


def test_flow_map_jumps_compose():
    # the exact solution map of dx/dt = -x: Phi(x, t, s) = x e^{-(s - t)}
    x = torch.ones(2, 1)
    out = flow_map_jumps(lambda x, t, s: x * math.exp(-(s - t)), x, [0.0, 0.3, 1.0])
    torch.testing.assert_close(out, torch.full((2, 1), math.exp(-1.0)))


def test_bad_solver_input():
    with pytest.raises(GenpolicyError, match="unknown ODE solver 'rk45'"):
        odeint(lambda x, t: x, torch.ones(1, 1), [0.0, 1.0], "rk45")
    with pytest.raises(GenpolicyError, match="at least two points"):
        odeint(lambda x, t: x, torch.ones(1, 1), [0.0], "euler")
    with pytest.raises(GenpolicyError, match="unknown divergence"):
        odeint_with_divergence(lambda x, t: x, torch.ones(1, 1), [0.0, 1.0], "rk4", "trace")
