"""CNF log-likelihood against the closed form.

For Gaussian data a ~ N(mu, C) under the linear path x_t = (1 - t) a + t z, the marginal
is x_t ~ N((1 - t) mu, C_t) with C_t = (1 - t)^2 C + t^2 I, and the exact probability-flow
velocity is  v(x, t) = -mu + (t I - (1 - t) C) C_t^{-1} (x - (1 - t) mu)  (C and C_t
commute). A Flow model whose field is this closed form must give log N(a; mu, C) back.
C is not diagonal, so a Hutchinson estimate of the divergence really has variance.
"""

import math

import pytest
import torch
from torch import nn

from genpolicy.generative.models import Flow, ModelConfig, ODEModel
from genpolicy.generative.models.ode import Guidance
from genpolicy.generative.solvers import Field


def covariance(dim: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(dim)
    q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=g))
    return q @ torch.diag(torch.linspace(0.2, 0.8, dim) ** 2) @ q.T


class GaussianFlow(Flow):
    """A flow model whose velocity field is the exact one for N(mu, C) data."""

    def __init__(self, dim: int):
        super().__init__(ModelConfig(kind="flow", path="linear", hidden=8, depth=1), dim, 1)
        self.mu = nn.Parameter(torch.linspace(-1.0, 1.0, dim))
        self.cov = covariance(dim)

    def velocity_field(  # type: ignore[override]  # a plain callable, not a VelocityField
        self,
        states: torch.Tensor,
        cache: dict[float, torch.Tensor] | None = None,
        guidance: Guidance | None = None,
    ) -> Field:
        eye = torch.eye(self.action_dim)

        def field(x, t):
            ct = (1 - t) ** 2 * self.cov + t**2 * eye
            gain = (t * eye - (1 - t) * self.cov) @ torch.linalg.inv(ct)
            return -self.mu + (x - (1 - t) * self.mu) @ gain.T

        return field

    def draw(self, n: int) -> torch.Tensor:
        return (
            self.mu.detach() + torch.randn(n, self.action_dim) @ torch.linalg.cholesky(self.cov).T
        )


def analytic(a: torch.Tensor, model: GaussianFlow) -> torch.Tensor:
    dist = torch.distributions.MultivariateNormal(model.mu.detach(), model.cov)
    return dist.log_prob(a.detach())


def test_exact_log_prob_matches_analytic():
    model = GaussianFlow(3)
    a = model.draw(64)
    states = torch.zeros(64, 1)
    lp = model.log_prob(a, states, steps=64, solver="rk4", divergence="exact")
    err = (lp - analytic(a, model)).abs()
    assert float(err.detach().max()) < 0.01


def test_sample_with_log_prob_matches_analytic():
    model = GaussianFlow(2)
    a, lp = model.sample_with_log_prob(torch.zeros(64, 1), steps=64, solver="rk4")
    assert float((lp.detach() - analytic(a, model)).abs().max()) < 0.01
    # and the samples have the right law
    with torch.no_grad():
        big, _ = model.sample_with_log_prob(torch.zeros(4000, 1), steps=16, solver="rk4")
    assert float((big.mean(0) - model.mu.detach()).abs().max()) < 0.05
    assert float((torch.cov(big.T) - model.cov).abs().max()) < 0.05


def test_hutchinson_agrees_in_expectation():
    model = GaussianFlow(4)
    a = model.draw(1).expand(4000, 4)
    states = torch.zeros(4000, 1)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        hutch = model.log_prob(
            a, states, steps=16, solver="rk4", divergence="hutchinson", generator=g
        )
    exact = analytic(a[:1], model)
    se = float(hutch.std()) / math.sqrt(len(hutch))
    assert float(hutch.std()) > 0  # it really is a random estimate
    assert abs(float(hutch.mean() - exact)) < 5 * se + 0.01


def test_gradients_flow_into_parameters_and_actions():
    """Fails if the ODE state (or the divergence) is detached anywhere along the solve."""
    model = GaussianFlow(2)
    a = model.draw(8).requires_grad_(True)
    lp = model.log_prob(a, torch.zeros(8, 1), steps=32, solver="rk4")
    lp.sum().backward()
    # d/d mu sum log N = sum C^-1 (a - mu) ; d/da log N = -C^-1 (a - mu)
    score = (a.detach() - model.mu.detach()) @ torch.linalg.inv(model.cov)
    torch.testing.assert_close(model.mu.grad, score.sum(0), atol=5e-3, rtol=2e-3)
    torch.testing.assert_close(a.grad, -score, atol=5e-3, rtol=2e-3)


def test_sample_with_log_prob_is_differentiable():
    model = GaussianFlow(2)
    noise = torch.randn(16, 2)
    a, lp = model.sample_with_log_prob(torch.zeros(16, 1), steps=32, noise=noise)
    # a = mu + C^(1/2)-ish map of the noise, affine in mu: d(sum a)/d mu = 16 per dim
    (a.sum() + 0 * lp.sum()).backward()
    torch.testing.assert_close(model.mu.grad, torch.full((2,), 16.0), atol=1e-3, rtol=1e-4)


def test_log_prob_of_a_trained_network_is_finite_and_differentiable():
    model = Flow(ModelConfig(kind="flow", path="linear", hidden=32, depth=2), 2, 3)
    a = torch.randn(5, 2, requires_grad=True)
    lp = model.log_prob(a, torch.randn(5, 3), steps=4)
    lp.sum().backward()
    assert torch.isfinite(lp).all()
    assert a.grad is not None and float(a.grad.abs().sum()) > 0
    assert all(p.grad is not None for p in model.net.parameters() if p.requires_grad)


@pytest.mark.parametrize("path", ["vp", "gvp", "linear", "ve"])
def test_untrained_models_give_finite_log_probs(path):
    from genpolicy.generative.models import build_model

    for kind in ("diffusion", "flow"):
        m = build_model(ModelConfig(kind=kind, path=path, hidden=16, depth=2), 2, 1)
        assert isinstance(m, ODEModel)
        with torch.no_grad():
            lp = m.log_prob(0.3 * torch.randn(4, 2), torch.zeros(4, 1), steps=4)
        assert torch.isfinite(lp).all(), (kind, path)


class GaussianVPFlow(Flow):
    """Exact probability-flow field of N(mu, C) data under the vp path: x_t ~ N(alpha mu,
    C_t = alpha^2 C + sigma^2 I), v = alpha' mu + (1/2) C_t' C_t^{-1} (x - alpha mu)."""

    def __init__(self, dim: int, grid_power: float):
        cfg = ModelConfig(kind="flow", path="vp", hidden=8, depth=1, grid_power=grid_power)
        super().__init__(cfg, dim, 1)
        g = torch.Generator().manual_seed(dim)
        q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=g, dtype=torch.float64))
        # narrow directions (std 0.01) make the field stiff near the data end, as
        # sharply peaked action distributions do
        self.cov = q @ torch.diag(torch.linspace(0.01, 0.5, dim, dtype=torch.float64) ** 2) @ q.T
        self.mu = torch.linspace(-0.5, 0.5, dim, dtype=torch.float64)

    def velocity_field(  # type: ignore[override]  # a plain callable, not a VelocityField
        self,
        states: torch.Tensor,
        cache: dict[float, torch.Tensor] | None = None,
        guidance: Guidance | None = None,
    ) -> Field:
        eye = torch.eye(self.action_dim, dtype=torch.float64)
        path = self.path

        def field(x, t):
            tt = torch.as_tensor(t, dtype=torch.float64)
            al, si, da, ds = path.alpha(tt), path.sigma(tt), path.d_alpha(tt), path.d_sigma(tt)
            ct = al**2 * self.cov + si**2 * eye
            dct = 2 * al * da * self.cov + 2 * si * ds * eye
            gain = (0.5 * dct @ torch.linalg.inv(ct)).to(x.dtype)
            mean = (al * self.mu).to(x.dtype)
            return (da * self.mu).to(x.dtype) + (x - mean) @ gain.T

        return field


def test_power_time_grid_is_accurate_where_the_uniform_grid_is_not():
    """RK4 on the vp path: the uniform grid misses the stiff end near the data, the
    quadratic grid (model.grid_power = 2) does not. The model maps actions at t_min = 1e-3,
    so the closed form is the marginal there, N(alpha mu, alpha^2 C + sigma^2 I)."""
    errors = {}
    for power, steps in ((1.0, 10), (1.0, 20), (2.0, 10), (2.0, 20)):
        model = GaussianVPFlow(3, power)
        t = torch.tensor(model.t_min, dtype=torch.float64)
        al, si = model.path.alpha(t), model.path.sigma(t)
        cov = al**2 * model.cov + si**2 * torch.eye(3, dtype=torch.float64)
        dist = torch.distributions.MultivariateNormal(al * model.mu, cov)
        a = dist.sample((64,)).float()
        lp = model.log_prob(a, torch.zeros(64, 1), steps=steps, solver="rk4", divergence="exact")
        errors[power, steps] = float((lp.double() - dist.log_prob(a.double())).abs().mean())
    assert errors[1.0, 10] > 1.0 and errors[1.0, 20] > 0.5
    assert errors[2.0, 10] < 0.1 and errors[2.0, 20] < 0.01


def test_bad_grid_power():
    from genpolicy.errors import GenpolicyError
    from genpolicy.generative.models import build_model

    with pytest.raises(GenpolicyError, match="model.grid_power must be > 0"):
        build_model(
            ModelConfig(kind="diffusion", path="vp", grid_power=0.0), action_dim=2, state_dim=1
        )
