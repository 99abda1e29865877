"""Does each model learn a multi-modal, state-conditioned 2-D distribution?

Threshold for the sliced Wasserstein distance (SWD, 2,000 samples, 256 projections): two
independent 2,000-sample draws of the toy itself are 0.05-0.065 apart (the sampling noise
floor), while a Gaussian with the data's mean and covariance, the best a unimodal policy
can do, is 0.18-0.20 away. A model passes below 0.13: at least 30% closer than any
unimodal fit and about twice the floor (one- and two-jump flow maps, which must map a
Gaussian onto separated modes in a single smooth step, land at 0.08-0.13 after 3,000
steps; 32-step ODE samplers at 0.04-0.09). Mode coverage: every mode receives at least 30%
of its fair share of samples; a model that drops a mode gets ~0% there.
"""

import pytest
import torch

from genpolicy.generative.models import ModelConfig, build_model
from genpolicy.generative.toy import TwoToys, fit_toy, sliced_wasserstein

pytestmark = pytest.mark.slow  # every test here trains a model

TOY = TwoToys()
N = 2000
SWD_MAX = 0.13
MODE_SHARE_MIN = 0.3

# name: (config, training steps, learning rate, [(sampling steps, solver), ...])
CASES: dict[str, tuple[ModelConfig, int, float, list[tuple[int, str | None]]]] = {
    "diffusion-vp": (
        ModelConfig(kind="diffusion", path="vp", hidden=128),
        2500,
        3e-3,
        [(32, "euler")],
    ),
    "flow-linear": (
        ModelConfig(kind="flow", path="linear", hidden=128),
        1500,
        3e-3,
        [(32, "euler"), (8, "rk4")],
    ),
    "flow-gvp": (ModelConfig(kind="flow", path="gvp", hidden=128), 1500, 3e-3, [(32, "euler")]),
    "flowmap-ve": (
        ModelConfig(kind="flowmap", path="ve", hidden=128),
        3000,
        1e-3,
        [(1, None), (2, None)],
    ),
}


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(1)
    models = {}
    for name, (cfg, steps, lr, _) in CASES.items():
        model = build_model(cfg, action_dim=2, state_dim=1)
        fit_toy(model, TOY, steps=steps, lr=lr, seed=0)
        models[name] = model
    return models


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("state", [-1.0, 1.0])
def test_model_matches_toy(trained, name, state):
    model = trained[name]
    g = torch.Generator().manual_seed(123)
    data = TOY.sample_given(state, N, g)
    states = torch.full((N, 1), state)
    for steps, solver in CASES[name][3]:
        with torch.no_grad():
            x = model.sample(states, steps=steps, solver=solver, generator=g)
        swd = sliced_wasserstein(x, data)
        counts = TOY.mode_counts(state, x)
        fair = N / len(counts)
        assert swd < SWD_MAX, f"{name} steps={steps}: SWD {swd:.3f}"
        assert int(counts.min()) >= MODE_SHARE_MIN * fair, (
            f"{name} steps={steps}: modes {counts.tolist()}"
        )


def test_untrained_model_fails_the_same_check():
    """The check can fail: an untrained flow map is far from the toy."""
    model = build_model(CASES["flowmap-ve"][0], 2, 1)
    data = TOY.sample_given(1.0, N)
    with torch.no_grad():
        x = model.sample(torch.ones(N, 1), steps=1)
    assert sliced_wasserstein(x, data) > SWD_MAX
