"""The ODE models' own divergence (jacobian_trace) against the generic torch.func route."""

import pytest
import torch
from torch import nn

from genpolicy.generative.exact_trace import head_with_trace
from genpolicy.generative.models import ModelConfig, ODEModel, build_model
from genpolicy.generative.nets import ACTIVATIONS
from genpolicy.generative.solvers import divergence_exact, divergence_hutchinson


def model_and_field(kind: str, activation: str, residual: bool, d: int = 4, s: int = 5):
    torch.manual_seed(0)
    cfg = ModelConfig(
        kind=kind,
        path="vp" if kind == "diffusion" else "linear",
        hidden=32,
        depth=3,
        residual=residual,
        activation=activation,
    )
    model = build_model(cfg, action_dim=d, state_dim=s).double()
    assert isinstance(model, ODEModel)
    states = torch.randn(7, s, dtype=torch.float64)
    return model, model.velocity_field(states)


def generic(field):
    """The same field as a plain callable, so the solvers take the torch.func route."""
    return lambda y, tt: field(y, tt)


def assert_central_differences(objective, params, grads, close):
    """For the first and last entry of each parameter: ``close(g, fd)`` holds between its
    autograd gradient and the central difference (step 1e-6) of ``objective()``."""
    h = 1e-6
    for p, g in zip(params, grads, strict=True):
        for idx in [(0,) * p.dim(), tuple(s - 1 for s in p.shape)]:
            with torch.no_grad():
                p[idx] += h
                up = float(objective())
                p[idx] -= 2 * h
                down = float(objective())
                p[idx] += h
            fd = (up - down) / (2 * h)
            assert close(float(g[idx]), fd), (tuple(p.shape), idx, float(g[idx]), fd)


@pytest.mark.parametrize("kind", ["flow", "diffusion"])
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("residual", [True, False])
def test_own_divergence_has_the_values_of_torch_func(kind, activation, residual):
    model, field = model_and_field(kind, activation, residual)
    x = torch.randn(7, 4, dtype=torch.float64)
    eps = torch.randint(0, 2, (7, 4)).to(x.dtype) * 2 - 1
    own = field.with_divergence(x, 0.37)
    assert own is not None
    for a, b in zip(own, divergence_exact(generic(field), x, 0.37), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    for a, b in zip(
        divergence_hutchinson(field, x, 0.37, eps),
        divergence_hutchinson(generic(field), x, 0.37, eps),
        strict=True,
    ):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def gradients(field, model, x, route):
    out, div = route(x)
    params = [x, *model.parameters()]
    loss = out.sum() + 3.0 * div.sum()
    grads = torch.autograd.grad(loss, params, allow_unused=True, retain_graph=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=True)]


@pytest.mark.parametrize("kind", ["flow", "diffusion"])
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("residual", [True, False])
def test_gradients_match_torch_func(kind, activation, residual):
    model, field = model_and_field(kind, activation, residual)
    x = torch.randn(7, 4, dtype=torch.float64, requires_grad=True)
    own = gradients(field, model, x, lambda y: field.with_divergence(y, 0.37))
    gen = gradients(field, model, x, lambda y: divergence_exact(generic(field), y, 0.37))
    for a, b in zip(own, gen, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("route", ["own", "generic"])
@pytest.mark.parametrize("probe", [False, True])
@pytest.mark.parametrize("kind", ["flow", "diffusion"])
def test_through_layernorm_gradients_match_finite_differences(kind, probe, route):
    """The residual trunk (LayerNorm): d/dx and d/dtheta of the divergence by central
    differences, by the hand-carried tangents and by the generic torch.func route (vjp).
    A forward-mode (jvp) generic route fails this in torch 2.13 (see jacobian_trace)."""
    model, _ = model_and_field(kind, "silu", residual=True)
    x = torch.randn(7, 4, dtype=torch.float64, requires_grad=True)
    eps = torch.randint(0, 2, (7, 4)).to(x.dtype) * 2 - 1 if probe else None
    t = 0.37

    def objective():
        # the state features inside the objective, so their weights are differentiated too
        field = model.velocity_field(field_states)
        if route == "own":
            out, div = field.with_divergence(x, t, eps)
        elif eps is None:
            out, div = divergence_exact(generic(field), x, t)
        else:
            out, div = divergence_hutchinson(generic(field), x, t, eps)
        return (out * weights).sum() + 3.0 * div.sum()

    field_states = torch.randn(7, 5, dtype=torch.float64)
    weights = torch.randn(7, 4, dtype=torch.float64)
    checked = [x, *model.net.trunk[1].parameters(), model.net.in_x.weight]
    grads = torch.autograd.grad(objective(), checked)
    assert_central_differences(objective, checked, grads, lambda g, fd: abs(g - fd) < 1e-6)


def test_divergence_exact_uses_the_fields_own_route():
    model, field = model_and_field("flow", "silu", True)
    x = torch.randn(7, 4, dtype=torch.float64)
    calls = []
    own = field.with_divergence

    def counting(y, tt, probe=None):
        calls.append(tt)
        return own(y, tt, probe)

    field.with_divergence = counting
    divergence_exact(field, x, 0.5)
    assert calls == [0.5]


def test_unknown_layers_and_guidance_fall_back_to_torch_func():
    model, field = model_and_field("flow", "silu", False)
    x = torch.randn(7, 4, dtype=torch.float64)
    model.net.trunk[0] = nn.Tanh()  # not an activation jacobian_trace knows
    assert head_with_trace(model.net, x, field.condition(x, 0.2)) is None
    assert field.with_divergence(x, 0.2) is None
    v, div = divergence_exact(field, x, 0.2)  # still exact, by the generic route
    torch.testing.assert_close(v, field(x, 0.2))
    assert div.shape == (7,)

    _, guided = model_and_field("diffusion", "silu", True)
    guided.guidance = lambda y, tt: torch.zeros_like(y)
    assert guided.with_divergence(x, 0.2) is None


def test_log_prob_is_the_same_by_either_route():
    model, _ = model_and_field("diffusion", "mish", True)
    a = torch.rand(7, 4, dtype=torch.float64) * 2 - 1
    states = torch.randn(7, 5, dtype=torch.float64)
    fast = model.log_prob(a, states, steps=6, solver="rk4", divergence="exact")
    original = model.velocity_field

    def plain(states, cache=None, guidance=None):
        return generic(original(states, cache, guidance))

    model.velocity_field = plain
    slow = model.log_prob(a, states, steps=6, solver="rk4", divergence="exact")
    torch.testing.assert_close(fast, slow, rtol=1e-10, atol=1e-10)


def test_gmpg_policy_gradient_through_layernorm_matches_finite_differences():
    """GMPG's whole loss (sampled action, log pi, log mu at it, Q) with the residual trunk:
    dL/dtheta by autograd against central differences, fixed prior noise. Before the
    hand-propagated tangents this failed (the KL term's gradient went through torch.func)."""
    from genpolicy.rl.algos import GMPG, build_algorithm
    from genpolicy.training.config import create

    over = {"algo.pretrain_steps": 0, "model.residual": True, "model.hidden": 16}
    over |= {"model.depth": 3, "algo.grad_steps": 2, "algo.q_normalize": False}
    cfg = create("toy-gmpg", over)
    torch.manual_seed(0)
    algo = build_algorithm(cfg.algo, cfg.model, cfg.critic, 2, 2, "cpu").double()
    assert isinstance(algo, GMPG)
    with torch.no_grad():  # mu != pi, so log mu's gradient w.r.t. the action matters
        for p in algo.behaviour.parameters():
            p.add_(0.1 * torch.randn_like(p))
    obs = torch.rand(5, 2, dtype=torch.float64) * 2 - 1
    noise = torch.randn(5, 2, dtype=torch.float64)

    def loss() -> torch.Tensor:
        return algo.policy_loss(obs, noise)["loss"]

    block = algo.policy.net.trunk[1]
    checked = [block.norm.weight, block.fc1.weight, algo.policy.net.in_x.weight]
    grads = torch.autograd.grad(loss(), checked)
    assert_central_differences(
        loss, checked, grads, lambda g, fd: abs(g - fd) < 1e-6 * max(1.0, abs(fd))
    )
