"""Closed-form checks of every path: x_t, derivatives, matching targets, conversions."""

import math

import pytest
import torch

from genpolicy.errors import GenpolicyError
from genpolicy.generative.probability_paths import GVP, PREDICTIONS, VE, VPSDE, Linear, make_path

T = torch.tensor([0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99], dtype=torch.float64)


def by_hand(name: str, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """alpha_t and sigma_t written out from their definitions."""
    if name == "vp":
        b0, b1 = 0.1, 20.0
        integral = b0 * t + 0.5 * (b1 - b0) * t**2  # int_0^t beta(s) ds
        alpha = torch.exp(-0.5 * integral)
        return alpha, torch.sqrt(1 - alpha**2)
    if name == "gvp":
        return torch.cos(math.pi * t / 2), torch.sin(math.pi * t / 2)
    if name == "linear":
        return 1 - t, t
    if name == "ve":
        return torch.ones_like(t), t
    raise AssertionError(name)


@pytest.mark.parametrize("name", ["vp", "gvp", "linear", "ve"])
def test_alpha_sigma_and_derivatives(name):
    path = make_path(name)
    alpha, sigma = by_hand(name, T)
    torch.testing.assert_close(path.alpha(T), alpha)
    torch.testing.assert_close(path.sigma(T), sigma)
    h = 1e-6
    da = (by_hand(name, T + h)[0] - by_hand(name, T - h)[0]) / (2 * h)
    ds = (by_hand(name, T + h)[1] - by_hand(name, T - h)[1]) / (2 * h)
    torch.testing.assert_close(path.d_alpha(T), da, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(path.d_sigma(T), ds, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["vp", "gvp", "linear", "ve"])
def test_sample_xt_and_targets(name):
    path = make_path(name)
    a, z = torch.randn(len(T), 3, dtype=torch.float64), torch.randn(len(T), 3, dtype=torch.float64)
    ps = path.sample_xt(a, T, noise=z)
    alpha, sigma = by_hand(name, T)
    torch.testing.assert_close(ps.xt, alpha[:, None] * a + sigma[:, None] * z)
    # the velocity target is the time derivative of x_t with a and z held fixed
    h = 1e-6
    fd = (path.sample_xt(a, T + h, noise=z).xt - path.sample_xt(a, T - h, noise=z).xt) / (2 * h)
    torch.testing.assert_close(path.target("velocity", a, z, T), fd, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(path.target("noise", a, z, T), z)
    torch.testing.assert_close(path.target("data", a, z, T), a)
    torch.testing.assert_close(path.target("score", a, z, T), -z / sigma[:, None])


@pytest.mark.parametrize("name", ["vp", "gvp", "linear", "ve"])
@pytest.mark.parametrize("source", PREDICTIONS)
@pytest.mark.parametrize("dest", PREDICTIONS)
def test_conversions_round_trip(name, source, dest):
    path = make_path(name)
    a, z = torch.randn(len(T), 2, dtype=torch.float64), torch.randn(len(T), 2, dtype=torch.float64)
    x = path.sample_xt(a, T, noise=z).xt
    truth = {p: path.target(p, a, z, T) for p in PREDICTIONS}
    got = path.convert(truth[source], x, T, source, dest)
    torch.testing.assert_close(got, truth[dest], rtol=1e-6, atol=1e-6)
    back = path.convert(got, x, T, dest, source)
    torch.testing.assert_close(back, truth[source], rtol=1e-6, atol=1e-6)


def test_vp_endpoints_and_drift():
    vp = VPSDE()
    one = torch.tensor(1.0, dtype=torch.float64)
    assert float(vp.alpha(one)) == pytest.approx(math.exp(-0.25 * 19.9 - 0.05))
    f, g2 = vp.drift_diffusion(T)
    torch.testing.assert_close(f, -0.5 * vp.beta(T))  # VP-SDE: f = -beta/2, g^2 = beta
    torch.testing.assert_close(g2, vp.beta(T))


def test_linear_sigma_min_adds_independent_noise():
    path = Linear(sigma_min=0.1)
    a = torch.zeros(200_000, 1, dtype=torch.float64)
    t = torch.zeros(200_000, dtype=torch.float64)
    xt = path.sample_xt(a, t, noise=torch.zeros_like(a)).xt
    assert float(xt.std()) == pytest.approx(0.1, rel=0.02)
    assert path.prior_std == pytest.approx(math.sqrt(1 + 0.01))


def test_time_grid_and_ve_prior():
    assert VE(t_max=3.0).prior_std == pytest.approx(3.0)
    grid = GVP().time_grid(4).tolist()
    assert grid == pytest.approx([1.0, 0.75, 0.5, 0.25, 0.0])
    quad = VPSDE().time_grid(4, power=2.0).tolist()  # t_min + (1 - t_min) u^2
    assert quad == pytest.approx([1e-3 + 0.999 * u**2 for u in (1.0, 0.75, 0.5, 0.25, 0.0)])
    assert quad[0] == 1.0 and quad[-1] == pytest.approx(1e-3, rel=1e-6)


def test_bad_path_input():
    with pytest.raises(GenpolicyError, match="unknown path 'cosine'"):
        make_path("cosine")
    with pytest.raises(GenpolicyError, match="sigma_min"):
        Linear(sigma_min=-1)
    with pytest.raises(GenpolicyError, match="bad options"):
        make_path("gvp", beta0=1.0)
    with pytest.raises(GenpolicyError, match="unknown prediction"):
        GVP().target("epsilon", torch.zeros(1, 1), torch.zeros(1, 1), torch.zeros(1))
    with pytest.raises(GenpolicyError, match="steps must be >= 1"):
        GVP().time_grid(0)
