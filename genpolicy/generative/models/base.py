"""The generative-model interface shared by diffusion, flow and flow-map policies.

A model maps a state s to a distribution over actions through a trajectory from noise
(t_max) to data (t_min) along a ``Path``. Subclasses choose what the network predicts and
what loss trains it; sampling, input checks and the time-feature cache live here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, TypeVar

import torch
from torch import Tensor, nn

from genpolicy.errors import GenpolicyError, unknown_name
from genpolicy.generative.nets import ConditionalMLP
from genpolicy.generative.probability_paths import Path, make_path

T = TypeVar("T")

MODEL_KINDS = ("diffusion", "flow", "flowmap")
TIME_SAMPLINGS = ("uniform", "logit_normal")  # the matching loss's time distribution

# What an algorithm may require of a model, and what each capability provides.
CAPABILITIES: dict[str, str] = {
    "sample": "sampling (sample)",
    "log_prob": "likelihoods (log_prob, sample_with_log_prob)",
    "flow_map": "a flow-map policy (the solution map Phi, loss_terms, jumps)",
    "score": "the noise/score prediction at any (x_t, t) and score-guided sampling "
    "(noise, sample(guidance=...))",
}


_VALUE_CHECKS = [True]  # whether check_states / check_actions test the values (one sync)


def value_checks() -> bool:
    """Whether the model's input checks look at values (NaN or inf), which reads a tensor
    back to the host: not inside ``torch.compile`` nor inside ``no_value_checks``."""
    return not torch.compiler.is_compiling() and _VALUE_CHECKS[0]


@contextlib.contextmanager
def no_value_checks() -> Iterator[None]:
    """Shape checks only (training updates: the dataset's values were checked when it was
    loaded), so an update never waits for the device."""
    previous = _VALUE_CHECKS[0]
    _VALUE_CHECKS[0] = False
    try:
        yield
    finally:
        _VALUE_CHECKS[0] = previous


@dataclass
class ModelConfig:
    """Everything needed to rebuild a generative model (serialises to YAML/JSON)."""

    kind: str = "flow"  # diffusion | flow | flowmap
    path: str = "linear"  # vp | gvp | linear | ve
    path_options: dict[str, float] = field(default_factory=dict)  # e.g. sigma_min, t_max
    hidden: int = 256
    depth: int = 3
    time_dim: int = 32
    residual: bool = False
    activation: str = "mish"
    # the model's own sampler; None: the model class's default (``default_steps`` /
    # ``default_solver``: 32 Euler steps for diffusion and flow, 2 jumps for a flow map).
    # Acting takes ``algo.act.steps`` / ``algo.act.solver`` first (the place to set them).
    steps: int | None = None
    solver: str | None = None  # euler | heun | midpoint | rk4 | sde (diffusion) | jump (flow map)
    # diffusion and flow: the ODE's time grid, t_i = t_min + (t_max - t_min) u_i^grid_power
    # for u_i equally spaced from 1 to 0 (1: uniform; 2: steps shrink towards the data end,
    # where the vp path's field is stiff), for sampling and log-likelihoods alike
    grid_power: float = 1.0
    # diffusion and flow: the matching loss's time t = t_min + (t_max - t_min) u, with
    # u ~ U(0, 1) ("uniform") or u = sigmoid(N(time_loc, time_scale^2)) ("logit_normal",
    # Esser et al. 2024), which puts more of the loss on the middle of the path. Either way
    # the loss's minimiser is the same field; only how the net's capacity is spent changes.
    time_sampling: str = "uniform"
    time_loc: float = 0.0
    time_scale: float = 1.0
    # flow map only
    ema: float = 0.95
    consistency_weight: float = 1.0
    flow_weight: float = 1.0
    anchored: bool = True  # data-anchored consistency target; False: model's own ODE steps
    target_steps: int = 2  # ODE steps for the non-anchored target
    max_gap: float = 0.1  # largest (t - u) / (t - tau) on the warped time scale
    rho: float = 7.0  # time-warp exponent of the flow map's time sampling and jump grid
    # EDM-style preconditioning of the flow map's data prediction (Karras et al. 2022):
    # phi = c_skip(t) x_t + c_out(t) F(c_in(t) x_t, ...), so the net sees unit-variance inputs
    # and predicts a unit-variance correction instead of learning the identity at small t;
    # sigma_data: the assumed std of the (normalised) actions
    precondition: bool = False
    sigma_data: float = 0.5

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise GenpolicyError(
                f"unknown model option(s) {unknown}; valid options: {', '.join(sorted(known))}"
            )
        return cls(**data)


class GenerativeModel(nn.Module):
    """Base class: a state-conditioned network plus a path.

    Subclasses declare what they offer (``capabilities``, names in ``CAPABILITIES``) and
    their sampler's defaults once (``default_steps``, ``default_solver``).
    """

    kind = ""
    capabilities: ClassVar[frozenset[str]] = frozenset({"sample"})
    default_steps: ClassVar[int] = 32
    default_solver: ClassVar[str] = "euler"

    def __init__(self, cfg: ModelConfig, action_dim: int, state_dim: int, n_times: int = 1):
        super().__init__()
        if action_dim < 1 or state_dim < 0:
            raise GenpolicyError(
                f"action_dim must be >= 1 and state_dim >= 0, got {action_dim}, {state_dim}"
            )
        if not cfg.grid_power > 0:
            raise GenpolicyError(
                f"model.grid_power must be > 0 (1: uniform time grid), got {cfg.grid_power}"
            )
        if cfg.time_sampling not in TIME_SAMPLINGS:
            raise unknown_name("model.time_sampling", cfg.time_sampling, TIME_SAMPLINGS)
        if not cfg.time_scale > 0:
            raise GenpolicyError(f"model.time_scale must be > 0, got {cfg.time_scale}")
        self.cfg = cfg
        self._sampler_cache: dict[tuple[Any, ...], tuple[tuple[int, ...], Any]] = {}
        self._prior_std: float | None = None
        self.action_dim, self.state_dim = action_dim, state_dim
        self.path: Path = make_path(cfg.path, **cfg.path_options)
        self.net = ConditionalMLP(
            action_dim,
            state_dim,
            hidden=cfg.hidden,
            depth=cfg.depth,
            time_dim=cfg.time_dim,
            n_times=n_times,
            residual=cfg.residual,
            activation=cfg.activation,
        )

    # -- time range ------------------------------------------------------------------------
    @property
    def t_min(self) -> float:
        return self.path.t_min

    @property
    def t_max(self) -> float:
        return self.path.t_max

    def net_time(self, t: Tensor) -> Tensor:
        """The time the network sees: t scaled into [0, 1]."""
        return t / self.path.t_max

    def draw_times(self, n: int, device: torch.device, generator: torch.Generator | None = None):
        if self.cfg.time_sampling == "logit_normal":
            z = torch.randn(n, device=device, generator=generator)
            u = torch.sigmoid(z.mul_(self.cfg.time_scale).add_(self.cfg.time_loc))
        else:
            u = torch.rand(n, device=device, generator=generator)
        return self.t_min + (self.t_max - self.t_min) * u

    def prior_std(self) -> float:
        return self.path.prior_std

    def draw_prior(self, states: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if self._prior_std is None:
            self._prior_std = self.prior_std()
        shape = (states.shape[0], self.action_dim)
        noise = torch.randn(shape, generator=generator, device=states.device, dtype=states.dtype)
        return noise if self._prior_std == 1.0 else noise.mul_(self._prior_std)

    # -- checks ----------------------------------------------------------------------------
    def check_states(self, states: Tensor) -> None:
        if states.dim() != 2 or states.shape[1] != self.state_dim:
            raise GenpolicyError(
                f"states must have shape (batch, {self.state_dim}), got {tuple(states.shape)}"
            )
        if value_checks() and not bool(torch.isfinite(states).all()):
            raise GenpolicyError("states contain NaN or inf; check the dataset or observation")

    def check_actions(self, actions: Tensor, states: Tensor) -> None:
        self.check_states(states)
        if actions.dim() != 2 or actions.shape[1] != self.action_dim:
            raise GenpolicyError(
                f"actions must have shape (batch, {self.action_dim}), got {tuple(actions.shape)}"
            )
        if actions.shape[0] != states.shape[0]:
            raise GenpolicyError(
                f"actions and states differ in batch size: {actions.shape[0]} vs {states.shape[0]}"
            )
        if value_checks() and not bool(torch.isfinite(actions).all()):
            raise GenpolicyError("actions contain NaN or inf; check the dataset")

    # -- network evaluation with cached conditioning ----------------------------------------
    def cached(self, key: tuple[Any, ...], like: Tensor, build: Callable[[], T]) -> T:
        """``build()`` memoised across calls while gradients are off and weights unchanged.

        Sampler set-up (time grids, their time features, jump coefficients) depends only on
        the step count and the time-embedding weights; at batch 1 rebuilding it costs as
        much as the network. Any in-place update of those weights (optimiser step,
        load_state_dict) bumps their version counters and invalidates the entry.
        """
        if torch.is_grad_enabled() or torch.compiler.is_compiling():
            return build()
        # cached plans depend on the weights only through the time embedding network
        version = tuple(p._version for p in self.net.time_mlp.parameters())
        full_key = (*key, like.dtype, like.device)
        entry = self._sampler_cache.get(full_key)
        if entry is None or entry[0] != version:
            entry = (version, build())
            self._sampler_cache[full_key] = entry
        return entry[1]

    def time_cache(self, times: Sequence[float], like: Tensor) -> dict[float, Tensor]:
        """First-layer time features for every time in ``times``, computed in one call."""

        def build() -> dict[float, Tensor]:
            tt = torch.tensor(list(times), dtype=like.dtype, device=like.device)
            feats = self.net.time_features(self.net_time(tt))
            return {t: feats[i] for i, t in enumerate(times)}

        return self.cached(("time", tuple(times)), like, build)

    def update_target(self, decay: float | None = None) -> None:
        """Update EMA targets after an optimiser step (no-op for models without one)."""

    # -- sampler settings --------------------------------------------------------------------
    @classmethod
    def resolve_sampler(
        cls, cfg: ModelConfig, steps: int | None = None, solver: str | None = None
    ) -> tuple[int, str]:
        """(steps, solver) a ``sample`` call uses: the arguments, else ``cfg``'s, else the
        class defaults. Raises ``GenpolicyError`` for a solver this model cannot use."""
        steps = steps if steps is not None else cfg.steps
        solver = solver if solver is not None else cfg.solver
        steps = cls.default_steps if steps is None else steps
        solver = cls.default_solver if solver is None else solver
        cls.check_solver(solver)
        return steps, solver

    @classmethod
    def check_solver(cls, solver: str) -> None:
        """Raise ``GenpolicyError`` if this model cannot sample with ``solver``."""

    # -- interface ---------------------------------------------------------------------------
    def loss_noise(
        self, n: int, like: Tensor, generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        """The random draws of one ``loss`` call on a batch of ``n`` actions (dtype and
        device of ``like``), in the order ``loss`` would draw them itself: passing them in
        (``loss(..., noise=...)``) makes the loss a function of its inputs alone, so a
        population of runs can draw each member's from its own generator."""
        raise NotImplementedError

    def loss(
        self, actions: Tensor, states: Tensor, noise: dict[str, Tensor] | None = None
    ) -> Tensor:
        """Per-sample matching loss, shape (B,), for algorithms to weight; ``noise``: the
        draws of ``loss_noise`` (drawn from the global generator when None)."""
        raise NotImplementedError

    def sample(
        self,
        states: Tensor,
        steps: int | None = None,
        solver: str | None = None,
        generator: torch.Generator | None = None,
        noise: Tensor | None = None,
    ) -> Tensor:
        """Draw one action per state, shape (B, action_dim); differentiable when grad is on."""
        raise NotImplementedError
