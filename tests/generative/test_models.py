"""Model interface: shapes, sampler choice at sampling time, state-dict round trip, bad input."""

import math

import pytest
import torch

from genpolicy.errors import GenpolicyError
from genpolicy.generative.models import FlowMap, ModelConfig, ODEModel, build_model
from genpolicy.generative.nets import ConditionalMLP

KINDS = [
    ("diffusion", "vp"),
    ("diffusion", "ve"),
    ("flow", "linear"),
    ("flow", "gvp"),
    ("flowmap", "ve"),
]


def small(kind: str, path: str, **kw) -> ModelConfig:
    return ModelConfig(kind=kind, path=path, hidden=32, depth=2, **kw)


@pytest.mark.parametrize(("kind", "path"), KINDS)
def test_shapes_and_round_trip(kind, path, tmp_path):
    model = build_model(small(kind, path), action_dim=3, state_dim=4)
    a, s = torch.randn(7, 3), torch.randn(7, 4)
    loss = model.loss(a, s)
    assert loss.shape == (7,) and torch.isfinite(loss).all()
    noise = torch.randn(7, 3)
    with torch.no_grad():
        x = model.sample(s, steps=3, noise=noise)
    assert x.shape == (7, 3)
    torch.save(model.state_dict(), tmp_path / "m.pt")
    clone = build_model(ModelConfig.from_dict(model.cfg.to_dict()), 3, 4)
    clone.load_state_dict(torch.load(tmp_path / "m.pt"))
    with torch.no_grad():
        torch.testing.assert_close(clone.sample(s, steps=3, noise=noise), x)


@pytest.mark.parametrize("solver", ["euler", "heun", "midpoint", "rk4"])
def test_solver_chosen_at_sampling_time(solver):
    model = build_model(small("flow", "linear"), 2, 1)
    s, noise = torch.randn(4, 1), torch.randn(4, 2)
    with torch.no_grad():
        fine = model.sample(s, steps=256, solver="rk4", noise=noise)
        coarse = model.sample(s, steps=64, solver=solver, noise=noise)
    tol = 5e-3 if solver == "euler" else 1e-4
    assert float((fine - coarse).abs().max()) < tol


def test_sde_sampler_is_stochastic_and_restricted():
    model = build_model(small("diffusion", "vp"), 2, 1)
    s = torch.zeros(2, 1)
    with torch.no_grad():
        x1 = model.sample(s, steps=5, solver="sde", noise=torch.zeros(2, 2))
        x2 = model.sample(s, steps=5, solver="sde", noise=torch.zeros(2, 2))
    assert not torch.allclose(x1, x2)
    with pytest.raises(GenpolicyError, match="stable only on the vp and ve paths"):
        build_model(small("diffusion", "gvp"), 2, 1).sample(s, solver="sde")
    with pytest.raises(GenpolicyError, match="needs a diffusion model"):
        build_model(small("flow", "linear"), 2, 1).sample(s, solver="sde")


def test_flow_map_jump_grid_and_identity():
    model = build_model(small("flowmap", "ve", path_options={"t_max": 4.0}), 2, 1)
    assert isinstance(model, FlowMap)
    grid = model.jump_grid(3)
    assert grid[0] == pytest.approx(4.0) and grid[-1] == 0.0
    assert all(a > b for a, b in zip(grid[:-1], grid[1:], strict=True))
    # Phi(x, t, t) = x by construction; Phi(x, t, 0) is the data prediction
    x, s = torch.randn(5, 2), torch.randn(5, 1)
    t = torch.full((5,), 1.3)
    torch.testing.assert_close(model.flow_map(x, t, t, s), x)
    zero = torch.zeros(5)
    torch.testing.assert_close(model.flow_map(x, t, zero, s), model.data_prediction(x, t, zero, s))


def test_flow_map_ve_form_is_ctm():
    """On the VE path Phi(x, t, s) = (s/t) x + (1 - s/t) phi."""
    model = build_model(small("flowmap", "ve"), 2, 1)
    assert isinstance(model, FlowMap)
    x, st = torch.randn(3, 2), torch.randn(3, 1)
    t, s = torch.tensor([2.0, 1.0, 0.5]), torch.tensor([1.0, 0.25, 0.1])
    phi = model.data_prediction(x, t, s, st)
    r = (s / t)[:, None]
    torch.testing.assert_close(model.flow_map(x, t, s, st), r * x + (1 - r) * phi)


@pytest.mark.parametrize("path", ["ve", "linear"])
def test_flow_map_preconditioning(path):
    """phi = c_skip x + c_out F(c_in x): closed-form coefficients, the identity at t -> 0,
    and the fast jump sampler equal to composing Phi(x, t_i, t_i+1) by hand."""
    cfg = small("flowmap", path, precondition=True, sigma_data=0.5)
    model = build_model(cfg, 2, 1)
    assert isinstance(model, FlowMap)
    t = torch.tensor([1e-6, 0.3, 1.0 if path == "linear" else 4.0], dtype=torch.float64)
    c_in, c_skip, c_out = model.preconditioning(t)
    a, s = model.path.alpha(t), model.path.sigma(t)
    v = a**2 * 0.25 + s**2
    torch.testing.assert_close(c_in, 1 / v.sqrt())
    torch.testing.assert_close(c_skip, a * 0.25 / v)
    torch.testing.assert_close(c_out, s * 0.5 / v.sqrt())
    if path == "ve":  # EDM's: c_skip = sd^2 / (t^2 + sd^2)
        torch.testing.assert_close(c_skip, 0.25 / (t**2 + 0.25))
    x, st = torch.randn(4, 2), torch.randn(4, 1)
    tiny, zero = torch.full((4,), 1e-7), torch.zeros(4)
    torch.testing.assert_close(model.data_prediction(x, tiny, zero, st), x, atol=1e-5, rtol=0)
    t = torch.full((4,), 0.7)
    torch.testing.assert_close(model.flow_map(x, t, t, st), x)  # Phi(x, t, t) = x still
    noise = torch.randn(4, 2)
    fast = model.sample(st, steps=3, noise=noise.clone())
    grid, y = model.jump_grid(3), noise.clone()
    for t0, t1 in zip(grid[:-1], grid[1:], strict=True):
        y = model.flow_map(y, torch.full((4,), t0), torch.full((4,), t1), st)
    torch.testing.assert_close(fast, y, atol=1e-5, rtol=1e-5)
    unconditioned = build_model(small("flowmap", path), 2, 1)
    unconditioned.load_state_dict(model.state_dict())  # same weights, another function
    assert not torch.allclose(unconditioned.sample(st, steps=3, noise=noise), fast)


def test_flow_map_ema_target_moves_toward_online():
    model = build_model(small("flowmap", "ve", ema=0.5), 2, 1)
    assert isinstance(model, FlowMap)
    with torch.no_grad():
        for p in model.net.parameters():
            p.add_(1.0)
    before = [p.clone() for p in model.target.parameters()]
    model.update_target()
    for p_t, p0, p in zip(model.target.parameters(), before, model.net.parameters(), strict=True):
        torch.testing.assert_close(p_t, 0.5 * p0 + 0.5 * p)
    assert not any(p.requires_grad for p in model.target.parameters())


def test_flow_map_non_anchored_ablation_runs():
    model = build_model(small("flowmap", "ve", anchored=False, target_steps=3), 2, 1)
    assert isinstance(model, FlowMap)
    terms = model.loss_terms(torch.randn(6, 2), torch.randn(6, 1))
    assert set(terms) == {"consistency", "flow"}
    assert all(v.shape == (6,) for v in terms.values())


def test_conditioning_split_equals_concatenated_mlp():
    """The split first layer computes exactly W [x, t, s] + b."""
    net = ConditionalMLP(3, 4, hidden=16, depth=2, time_dim=8)
    x, s, t = torch.randn(5, 3), torch.randn(5, 4), torch.rand(5)
    h = net.in_x(x) + net.time_features(t) + net.state_features(s)
    torch.testing.assert_close(net(x, t, s), net.trunk(h))
    cond = net.time_features(torch.tensor(0.3)) + net.state_features(s)
    torch.testing.assert_close(net.head(x, cond), net(x, torch.full((5,), 0.3), s))


def test_bad_input_messages():
    model = build_model(small("flow", "linear"), 2, 3)
    assert isinstance(model, ODEModel)
    with pytest.raises(GenpolicyError, match=r"states must have shape \(batch, 3\), got \(4, 2\)"):
        model.sample(torch.zeros(4, 2))
    with pytest.raises(GenpolicyError, match=r"actions must have shape \(batch, 2\)"):
        model.loss(torch.zeros(4, 5), torch.zeros(4, 3))
    with pytest.raises(GenpolicyError, match="differ in batch size"):
        model.loss(torch.zeros(4, 2), torch.zeros(5, 3))
    with pytest.raises(GenpolicyError, match="states contain NaN"):
        model.sample(torch.full((1, 3), math.nan))
    with pytest.raises(GenpolicyError, match="actions contain NaN"):
        model.log_prob(torch.full((1, 2), math.inf), torch.zeros(1, 3))
    with pytest.raises(GenpolicyError, match="unknown ODE solver 'dopri5'"):
        model.sample(torch.zeros(1, 3), solver="dopri5")
    with pytest.raises(GenpolicyError, match="unknown divergence"):
        model.log_prob(torch.zeros(1, 2), torch.zeros(1, 3), divergence="skilling")
    with pytest.raises(GenpolicyError, match="unknown model kind 'gan'"):
        build_model(ModelConfig(kind="gan"), 2, 3)
    with pytest.raises(GenpolicyError, match="unknown path 'cos'"):
        build_model(ModelConfig(path="cos"), 2, 3)
    with pytest.raises(GenpolicyError, match="unknown activation"):
        build_model(ModelConfig(activation="swish2"), 2, 3)
    with pytest.raises(GenpolicyError, match=r"unknown model option\(s\) \['hiden'\]"):
        ModelConfig.from_dict({"hiden": 3})
    with pytest.raises(GenpolicyError, match="steps must be >= 1"):
        build_model(small("flowmap", "ve"), 2, 3).sample(torch.zeros(1, 3), steps=0)
    with pytest.raises(GenpolicyError, match="max_gap"):
        build_model(small("flowmap", "ve", max_gap=0.0), 2, 3)
    with pytest.raises(GenpolicyError, match="sigma_data must be > 0"):
        build_model(small("flowmap", "ve", precondition=True, sigma_data=0.0), 2, 3)
    with pytest.raises(GenpolicyError, match="unknown model.time_sampling 'beta'"):
        build_model(small("flow", "linear", time_sampling="beta"), 2, 3)
    with pytest.raises(GenpolicyError, match="time_scale must be > 0"):
        build_model(small("flow", "linear", time_sampling="logit_normal", time_scale=0.0), 2, 3)


@pytest.mark.parametrize(("kind", "path"), [("flow", "linear"), ("diffusion", "vp")])
def test_matching_loss_time_distributions(kind, path):
    """uniform: t_min + (t_max - t_min) U(0, 1) from the generator's stream, as before;
    logit_normal: the CDF of u = (t - t_min) / (t_max - t_min) is Phi((logit u - m) / s)."""
    model = build_model(small(kind, path), 2, 3)
    lo, hi = model.t_min, model.t_max
    t = model.draw_times(5, torch.device("cpu"), torch.Generator().manual_seed(3))
    u = torch.rand(5, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(t, lo + (hi - lo) * u)
    cfg = small(kind, path, time_sampling="logit_normal", time_loc=1.0, time_scale=0.5)
    model = build_model(cfg, 2, 3)
    t = model.draw_times(40_000, torch.device("cpu"), torch.Generator().manual_seed(0))
    u = (t - lo) / (hi - lo)
    assert 0 < u.min() and u.max() < 1
    for z in (-1.0, 0.0, 1.0):  # P(u < sigmoid(m + s z)) = Phi(z)
        share = (u < torch.sigmoid(torch.tensor(1.0 + 0.5 * z))).float().mean().item()
        assert abs(share - 0.5 * (1 + math.erf(z / math.sqrt(2)))) < 0.01


def test_residual_backbone_fits_a_fixed_batch():
    """A residual MLP backbone builds, samples, and drives its matching loss down."""
    model = build_model(
        ModelConfig(kind="flow", path="linear", hidden=32, depth=3, residual=True), 2, 1
    )
    assert any(type(m).__name__ == "ResidualBlock" for m in model.modules())
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    a, s = torch.randn(64, 2), torch.randn(64, 1)
    torch.manual_seed(1)
    first = float(model.loss(a, s).mean().detach())
    for _ in range(200):
        loss = model.loss(a, s).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.manual_seed(1)
    assert float(model.loss(a, s).mean().detach()) < 0.8 * first
    with torch.no_grad():
        assert model.sample(s, steps=2).shape == (64, 2)


def test_one_euler_step_from_the_prior_mean_reads_out_the_weighted_mean():
    """On the linear path the loss-optimal velocity at t = 1 is x - E_w[a | s] for any x, so
    one Euler step lands on the weighted conditional mean of the actions, whatever the start
    noise; the full ODE from the prior's mean lands in a mode instead. Actions +-1, +1 with
    weight 3: weighted mean 0.5, weighted median +1."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind="flow", path="linear", hidden=64, depth=2), 1, 1)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    s = torch.zeros(512, 1)
    a = torch.cat([torch.ones(256, 1), -torch.ones(256, 1)])
    w = torch.cat([torch.full((256,), 1.5), torch.full((256,), 0.5)])  # mean 1
    for _ in range(800):
        loss = (w * model.loss(a, s)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    zero = torch.zeros(8, 1)
    with torch.no_grad():
        one_step = model.sample(s[:8], steps=1, solver="euler", noise=zero)
        ode = model.sample(s[:8], steps=64, solver="euler", noise=zero)
        sampled_start = model.sample(s[:8], steps=1, solver="euler")
    assert one_step.mean().item() == pytest.approx(0.5, abs=0.1)
    assert sampled_start.mean().item() == pytest.approx(0.5, abs=0.15)
    assert ode.mean().item() > 0.8


@pytest.mark.parametrize("kind,path", [("flow", "linear"), ("diffusion", "vp")])
def test_one_euler_step_uses_the_time_features_of_its_one_time(kind, path):
    """A one-step Euler plan has a single stage time; its cached time features must be the
    same vector the uncached field computes (they once collapsed to one scalar)."""
    torch.manual_seed(0)
    model = build_model(small(kind, path), 2, 3)
    assert isinstance(model, ODEModel)
    s, x = torch.randn(5, 3), torch.randn(5, 2)
    with torch.no_grad():
        ts = model.sample_grid(1)
        v = model.velocity_field(s)(x, ts[0])  # no cache: features from the scalar time
        expected = x + (ts[1] - ts[0]) * v
        torch.testing.assert_close(model.sample(s, steps=1, solver="euler", noise=x), expected)
