"""GMPG's memory levers change memory, not gradients: micro-batching and checkpointing."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from genpolicy.envs import toy_bandit as tb
from genpolicy.errors import GenpolicyError
from genpolicy.rl.algos import build_algorithm
from genpolicy.rl.algos.gmpg import GMPGConfig
from genpolicy.training.config import create

SMALL = {
    "model.hidden": 32,
    "model.depth": 1,
    "model.time_dim": 8,
    "critic.hidden": 32,
    "algo.pretrain_steps": 0,
    "algo.batch_size": 64,
    "algo.policy_batch": 10,
    "algo.grad_steps": 3,
}
MODELS = [("diffusion", "vp"), ("flow", "linear")]


def make(over: dict[str, Any] | None = None) -> Any:
    cfg = create("toy-gmpg", {**SMALL, **(over or {})})
    torch.manual_seed(0)
    algo = build_algorithm(cfg.algo, cfg.model, cfg.critic, 2, 2, "cpu")
    with torch.no_grad():  # pi != mu, so the KL term has a gradient of its own
        for p in algo.policy.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return algo


def obs_batch() -> torch.Tensor:
    return torch.rand(10, 2, generator=torch.Generator().manual_seed(3)) * 2 - 1


def params(algo: Any) -> list[torch.Tensor]:
    return [p for p in algo.policy.parameters() if p.requires_grad]


def grads(algo: Any) -> list[torch.Tensor]:
    """Copies of the gradients of ``params(algo)``; each one must have been computed."""
    out = []
    for p in params(algo):
        assert p.grad is not None
        out.append(p.grad.clone())
    return out


def accumulated(algo: Any, obs: torch.Tensor, seed: int = 1) -> tuple[list[torch.Tensor], Any]:
    torch.manual_seed(seed)
    terms = algo.policy_backward(obs)
    return grads(algo), terms


def reference(algo: Any, obs: torch.Tensor, seed: int = 1) -> tuple[list[torch.Tensor], Any]:
    """The full-batch loss written out by hand (the module docstring's formula)."""
    c = algo.cfg
    torch.manual_seed(seed)
    noise = algo.policy.draw_prior(obs)
    kw = {"steps": c.grad_steps, "solver": c.grad_solver, "divergence": c.divergence}
    a, log_pi = algo.policy.sample_with_log_prob(obs, noise=noise, **kw)
    log_mu = algo.behaviour.log_prob(a, obs, **kw)
    q = algo.critic.q_min(obs, a.clamp(-1, 1) if c.q_clip else a, target=True)
    spread = q.detach() - algo.critic.value(obs).detach()
    scale = (spread if c.q_normalizer == "mean_abs_adv" else q.detach()).abs().mean()
    scale = scale if c.q_normalize else 1.0
    kl_term = (c.entropy_weight * log_pi - log_mu) / (2 * math.log(2.0))
    loss = (-c.beta * q / scale + kl_term).mean()
    return list(torch.autograd.grad(loss, params(algo))), loss.detach()


def assert_grads_close(got: list[torch.Tensor], want: list[torch.Tensor]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(("kind", "path"), MODELS)
@pytest.mark.parametrize("q_normalize", [True, False])
def test_microbatches_give_the_full_batch_gradient(kind: str, path: str, q_normalize: bool):
    over = {"model.kind": kind, "model.path": path, "algo.q_normalize": q_normalize}
    algo = make(over)
    obs = obs_batch()
    want, want_loss = reference(algo, obs)
    for micro in (0, 4, 10, 256):  # 4: micro-batches of 4, 4 and 2 states; 256 (default): one
        algo.cfg.policy_microbatch = micro
        got, terms = accumulated(algo, obs)
        assert_grads_close(got, want)
        torch.testing.assert_close(terms["loss"], want_loss, rtol=1e-5, atol=1e-6)
    if q_normalize:  # the test can tell: c per micro-batch is a different gradient
        torch.manual_seed(1)
        noise = algo.policy.draw_prior(obs)
        algo.policy_opt.zero_grad(set_to_none=True)
        for part in (slice(0, 4), slice(4, 8), slice(8, 10)):
            share = (part.stop - part.start) / 10
            (algo.policy_loss(obs[part], noise[part])["loss"] * share).backward()
        per_micro = grads(algo)
        assert not all(
            torch.allclose(g, w, rtol=1e-4, atol=1e-6) for g, w in zip(per_micro, want, strict=True)
        )


@pytest.mark.parametrize(
    "over",
    [{"algo.q_normalizer": "mean_abs_adv"}, {"algo.q_clip": True}, {"algo.entropy_weight": 0.5}],
)
def test_loss_options_follow_their_formula(over: dict[str, Any]) -> None:
    def wide(algo: Any) -> Any:  # push some of the policy's actions outside [-1, 1]
        algo.policy.draw_prior = lambda o, generator=None: 3.0 * torch.randn(o.shape[0], 2)
        return algo

    algo = wide(make({"algo.beta": 5.0, **over}))
    obs = obs_batch()
    want, want_loss = reference(algo, obs)
    for micro in (0, 4):
        algo.cfg.policy_microbatch = micro
        got, terms = accumulated(algo, obs)
        assert_grads_close(got, want)
        torch.testing.assert_close(terms["loss"], want_loss, rtol=1e-5, atol=1e-6)
    plain, _ = accumulated(wide(make({"algo.beta": 5.0})), obs)  # the option changes it
    assert not all(torch.allclose(g, w, rtol=1e-3) for g, w in zip(got, plain, strict=True))


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("algo.q_normalizer", "std", r"algo\.q_normalizer must be 'mean_abs_q' or"),
        ("algo.entropy_weight", -0.5, r"algo\.entropy_weight must be >= 0 \(1: the published"),
        ("algo.beta", -1.0, r"algo\.beta must be >= 0"),
    ],
)
def test_bad_loss_option_is_a_user_error(key: str, value: object, message: str) -> None:
    with pytest.raises(GenpolicyError, match=message):
        create("toy-gmpg", {**SMALL, key: value})


def spread(model: Any, obs: torch.Tensor, noise: torch.Tensor) -> float:
    with torch.no_grad():
        return float(model.sample(obs, steps=3, solver="rk4", noise=noise).std(0).mean())


def test_entropy_weight_below_one_sharpens_the_behaviour_model() -> None:
    """beta = 0: pi ~ mu^(1/alpha). Near a Gaussian mu, alpha = 0.5 divides the spread by
    sqrt(2); alpha = 1 keeps mu."""
    obs = torch.zeros(256, 2)
    noise = torch.randn(256, 2, generator=torch.Generator().manual_seed(5))
    widths = {}
    for alpha in (1.0, 0.5):
        algo = make({"algo.beta": 0.0, "algo.entropy_weight": alpha, "algo.lr": 3e-3})
        algo.policy.load_state_dict(algo.behaviour.state_dict())
        for _ in range(60):
            algo.policy_update(obs[:64])
        widths[alpha] = spread(algo.policy, obs, noise) / spread(algo.behaviour, obs, noise)
    assert abs(widths[1.0] - 1.0) < 0.05, widths
    assert abs(widths[0.5] - 2**-0.5) < 0.08, widths


@pytest.mark.parametrize(("kind", "path"), MODELS)
def test_checkpointing_gives_the_same_gradient(kind: str, path: str) -> None:
    obs = obs_batch()
    over = {"model.kind": kind, "model.path": path}
    want, _ = accumulated(make(over), obs)
    for micro in (0, 4):
        got, _ = accumulated(
            make({**over, "algo.grad_checkpoint": True, "algo.policy_microbatch": micro}), obs
        )
        assert_grads_close(got, want)


@pytest.mark.parametrize(("kind", "path"), MODELS)
def test_checkpointing_changes_not_one_bit(kind: str, path: str) -> None:
    """The recomputed forward pass is the same computation, so a run may switch
    algo.grad_checkpoint when it resumes (MEMORY_ONLY_ALGO_KEYS)."""
    obs = obs_batch()
    for micro in (0, 4):
        over = {"model.kind": kind, "model.path": path, "algo.policy_microbatch": micro}
        plain, _ = accumulated(make({**over, "algo.grad_checkpoint": False}), obs)
        checkpointed, _ = accumulated(make({**over, "algo.grad_checkpoint": True}), obs)
        assert all(torch.equal(a, b) for a, b in zip(plain, checkpointed, strict=True))


def saved_bytes(algo: Any, obs: torch.Tensor) -> int:
    """Bytes autograd keeps for the backward pass of one policy loss (outside checkpoints)."""
    total = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        algo.policy_loss(obs)
    return total


def test_checkpointing_keeps_less_for_backward() -> None:
    obs = obs_batch()
    plain = saved_bytes(make({"algo.grad_checkpoint": False}), obs)
    checkpointed = saved_bytes(make({"algo.grad_checkpoint": True}), obs)
    assert checkpointed < plain / 4, (checkpointed, plain)


def test_policy_terms_are_logged_and_add_up() -> None:
    algo = make({"algo.policy_microbatch": 4})
    batch = tb.make_dataset(n=200).sample(64, torch.Generator().manual_seed(0))
    info = algo.update(batch)
    for key in ("loss", "q", "q_term", "kl_bits", "log_pi", "log_mu", "grad_norm"):
        assert torch.isfinite(info[f"policy/{key}"]), key
    torch.testing.assert_close(info["policy/loss"], info["policy/kl_bits"] - info["policy/q_term"])
    kl = (info["policy/log_pi"] - info["policy/log_mu"]) / (2 * math.log(2.0))
    torch.testing.assert_close(info["policy/kl_bits"], kl)


def test_bad_microbatch_is_a_user_error() -> None:
    with pytest.raises(GenpolicyError, match=r"algo\.policy_microbatch must be >= 0"):
        create("toy-gmpg", {**SMALL, "algo.policy_microbatch": -1})


def test_the_policy_step_is_micro_batched_by_default_and_checkpointed_for_large_nets() -> None:
    """A policy batch of any size backpropagates 256 states at a time unless told otherwise,
    so one step's memory does not grow with algo.policy_batch; the dataclass checkpoints too,
    and so do the published configs' 4 x 512 policies, where the default's 3 x 256 policy does
    not need it (docs/benchmarks/gmpg-cost.md)."""
    for name in ("toy-gmpg", "gmpg", "published/gmpg/vp/halfcheetah-medium"):
        cfg = create(name, {"algo.batch_size": 4096, "algo.policy_batch": 4096})
        assert cfg.algo.policy_microbatch == 256, name
    assert GMPGConfig().grad_checkpoint and GMPGConfig().policy_microbatch == 256
    assert create("published/gmpg/vp/halfcheetah-medium").algo.grad_checkpoint
    assert not create("gmpg").algo.grad_checkpoint


def test_the_batch_q_scale_builds_no_graph() -> None:
    """c over the whole policy batch comes from a no-grad pass of the sampler: no activations
    of the whole batch are kept, whatever its size (only the micro-batches backpropagate)."""
    algo = make({"algo.q_normalize": True})
    obs = obs_batch()
    grad_on: list[bool] = []
    sample = algo.policy.sample

    def spy(*args: Any, **kwargs: Any) -> Any:
        grad_on.append(torch.is_grad_enabled())
        return sample(*args, **kwargs)

    algo.policy.sample = spy
    scale = algo.batch_q_scale(obs, algo.policy.draw_prior(obs))
    assert grad_on == [False] and scale.grad_fn is None and float(scale) > 0
