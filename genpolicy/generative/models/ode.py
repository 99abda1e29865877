"""Models whose sampler is an ODE: diffusion (noise prediction) and flow (velocity)."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import torch
from torch import Tensor

from genpolicy.errors import GenpolicyError
from genpolicy.generative.exact_trace import head_with_trace
from genpolicy.generative.models.base import GenerativeModel, ModelConfig
from genpolicy.generative.probability_paths import PathSample
from genpolicy.generative.solvers import (
    DIVERGENCES,
    EXACT_DIVERGENCE_MAX_DIM,
    ODE_SOLVERS,
    check_solver,
    euler_maruyama,
    gaussian_log_prob,
    odeint,
    odeint_with_divergence,
    stage_times,
)

LOG_PROB_STEPS = 16
ALPHA_MIN = 1e-3  # below this alpha_t, x_t carries no data and guidance is not applied

# guidance(x_t, t) -> the extra score d/dx_t log h_t(x_t | s) added to the model's score
Guidance = Callable[[Tensor, float], Tensor]


class VelocityField:
    """dx/dt of an ODE model for fixed states: ``field(x, t)``, and ``with_divergence(x, t)``
    = (dx/dt, div_x dx/dt) from the network's own Jacobian trace (``jacobian_trace``),
    which ``solvers.divergence_exact`` uses instead of ``torch.func``."""

    def __init__(
        self,
        model: ODEModel,
        s_feat: Tensor,
        cache: dict[float, Tensor] | None,
        guidance: Guidance | None,
    ) -> None:
        self.model, self.s_feat, self.guidance = model, s_feat, guidance
        self.cache = {} if cache is None else cache

    def condition(self, x: Tensor, t: float) -> Tensor:
        """The first layer's state + time term at t (the time term cached per grid point)."""
        c = self.cache.get(t)
        if c is None:
            net = self.model.net
            c = net.time_features(
                self.model.net_time(torch.tensor(t, dtype=x.dtype, device=x.device))
            )
        return self.s_feat + c

    def __call__(self, x: Tensor, t: float) -> Tensor:
        m, guidance = self.model, self.guidance
        v = m.to_velocity(m.net.head(x, self.condition(x, t)), x, t)
        k = m.score_gain(t) if guidance is not None else 0.0
        return v if k == 0.0 or guidance is None else v + k * guidance(x, t)

    def with_divergence(
        self, x: Tensor, t: float, probe: Tensor | None = None
    ) -> tuple[Tensor, Tensor] | None:
        """(v, div_x v), or with a ``probe`` eps (B, d) (v, eps^T (dv/dx) eps); None with
        guidance or a network ``head_with_trace`` does not know."""
        if self.guidance is not None:
            return None
        pair = head_with_trace(self.model.net, x, self.condition(x, t), probe)
        if pair is None:
            return None
        out, trace = pair
        cx, cz = self.model.velocity_coefficients(t)
        v = self.model.to_velocity(out, x, t)
        if (cx, cz) == (0.0, 1.0):
            return v, trace
        identity = x.shape[-1] if probe is None else (probe * probe).sum(-1)  # eps^T I eps
        return v, cz * trace + cx * identity


class ODEModel(GenerativeModel):
    """A network whose output converts to a velocity; sampled by integrating the ODE.

    Its likelihood is the CNF change of variables along that ODE (``log_prob``).
    """

    capabilities = frozenset({"sample", "log_prob", "score"})
    default_steps = 32
    default_solver = "euler"
    solvers: tuple[str, ...] = ODE_SOLVERS
    prediction: ClassVar[str] = "velocity"  # what the network predicts (paths.PREDICTIONS)

    @classmethod
    def check_solver(cls, solver: str) -> None:
        if solver == "sde" and "sde" not in cls.solvers:
            raise GenpolicyError(
                f"solver 'sde' needs a diffusion model; a {cls.kind} model samples with an "
                "ODE solver: euler, heun, midpoint or rk4"
            )
        if solver != "sde":
            check_solver(solver)

    def to_velocity(self, out: Tensor, x: Tensor, t: float) -> Tensor:
        """Turn the network output at (x, t) into dx/dt: c_x x + c_out out."""
        cx, cz = self.velocity_coefficients(t)
        return out if (cx, cz) == (0.0, 1.0) else cx * x + cz * out

    def plan(
        self, steps: int, solver: str, like: Tensor, reverse: bool = False
    ) -> tuple[list[float], dict[float, Tensor]]:
        """The time grid (noise to data, or reversed) and time features at every stage time."""

        def build() -> tuple[list[float], dict[float, Tensor]]:
            ts = self.sample_grid(steps)
            ts = ts[::-1] if reverse else ts
            return ts, self.time_cache(stage_times(ts, solver), like)

        check_solver(solver)
        return self.cached(("plan", steps, solver, reverse, self.cfg.grid_power), like, build)

    def velocity_field(
        self,
        states: Tensor,
        cache: dict[float, Tensor] | None = None,
        guidance: Guidance | None = None,
    ) -> VelocityField:
        """The ODE field for these states; state features computed once, time ones cached.

        ``guidance(x, t)`` adds g to the model's score: v + k(t) g (``score_gain``).
        """
        return VelocityField(self, self.net.state_features(states), cache, guidance)

    def velocity_coefficients(self, t: float) -> tuple[float, float]:
        """(c_x, c_out) with dx/dt = c_x x + c_out out at time t, out the network's output
        (``to_velocity``; ``VelocityField.with_divergence`` needs the coefficients)."""
        raise NotImplementedError

    @torch.compiler.assume_constant_result  # host constants: torch.compile folds them
    def score_gain(self, t: float) -> float:
        """k(t) with v = (alpha'/alpha) x + k(t) grad log p_t(x) at fixed x_t (from
        x = alpha a + sigma z, score = -z / sigma): k = -(sigma' - sigma alpha'/alpha) sigma;
        -beta(t)/2 on the VP path. 0 where alpha_t < ALPHA_MIN (pure noise)."""
        tt = torch.tensor(t, dtype=torch.float64)
        p = self.path
        alpha, sigma = float(p.alpha(tt)), float(p.sigma(tt))
        if alpha < ALPHA_MIN:
            return 0.0
        return -(float(p.d_sigma(tt)) - sigma * float(p.d_alpha(tt)) / alpha) * sigma

    def noise(self, x: Tensor, t: Tensor, states: Tensor) -> Tensor:
        """The model's noise prediction z_hat(x_t, t | s) (score = -z_hat / sigma_t);
        ``t`` (B,) on the model's time scale; differentiable."""
        out = self.net(x, self.net_time(t), states)
        return self.path.convert(out, x, t, self.prediction, "noise")

    def loss_noise(
        self, n: int, like: Tensor, generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        """t, then z (and the I-CFM's extra noise): the draws of the matching loss."""
        noise = {"t": self.draw_times(n, like.device, generator)}
        for key in ("z", "extra") if self.path.sigma_min > 0.0 else ("z",):
            noise[key] = torch.randn(
                n, self.action_dim, generator=generator, device=like.device, dtype=like.dtype
            )
        return noise

    def draw_xt(self, actions: Tensor, noise: dict[str, Tensor] | None) -> PathSample:
        """x_t on the path for a batch of actions, from ``noise`` or fresh draws."""
        if noise is None:
            noise = self.loss_noise(actions.shape[0], actions)
        return self.path.sample_xt(actions, noise["t"], noise["z"], noise.get("extra"))

    @torch.compiler.assume_constant_result
    def sample_grid(self, steps: int) -> list[float]:
        return self.path.time_grid(steps, self.t_min, self.t_max, self.cfg.grid_power).tolist()

    def sample(
        self,
        states: Tensor,
        steps: int | None = None,
        solver: str | None = None,
        generator: torch.Generator | None = None,
        noise: Tensor | None = None,
        guidance: Guidance | None = None,
    ) -> Tensor:
        """``guidance(x, t)``: an extra score added along the ODE (energy guidance)."""
        self.check_states(states)
        steps, solver = self.resolve_sampler(self.cfg, steps, solver)
        x = self.draw_prior(states, generator) if noise is None else noise
        if solver == "sde":
            if guidance is not None:
                raise GenpolicyError("guided sampling needs an ODE solver, not 'sde'")
            return self.sample_sde(states, x, self.sample_grid(steps), generator)
        ts, cache = self.plan(steps, solver, states)
        return odeint(self.velocity_field(states, cache, guidance), x, ts, solver)

    def sample_sde(
        self, states: Tensor, x: Tensor, ts: list[float], generator: torch.Generator | None
    ) -> Tensor:
        raise GenpolicyError(
            f"solver 'sde' needs a diffusion model; a {self.kind} model samples with an ODE "
            "solver: euler, heun, midpoint or rk4"
        )

    # -- likelihood -----------------------------------------------------------------------
    def _divergence(self, divergence: str | None) -> str:
        if divergence is None:
            return "exact" if self.action_dim <= EXACT_DIVERGENCE_MAX_DIM else "hutchinson"
        if divergence not in DIVERGENCES:
            raise GenpolicyError(
                f"unknown divergence estimator {divergence!r}; choose exact or hutchinson"
            )
        return divergence

    def log_prob(
        self,
        actions: Tensor,
        states: Tensor,
        steps: int = LOG_PROB_STEPS,
        solver: str = "rk4",
        divergence: str | None = None,
        generator: torch.Generator | None = None,
        checkpoint: bool = False,
    ) -> Tensor:
        """log pi(a | s) through the probability-flow ODE, integrated from data to noise.

        Differentiable w.r.t. the parameters and the actions. ``divergence``: "exact"
        (default up to 32 action dimensions) or "hutchinson" (unbiased, one probe).
        ``checkpoint``: recompute each solver step's activations in the backward pass
        instead of keeping them (memory of one step, not all; same gradients).
        """
        self.check_actions(actions, states)
        ts, cache = self.plan(steps, solver, states, reverse=True)
        field = self.velocity_field(states, cache)
        x_end, integral = odeint_with_divergence(
            field, actions, ts, solver, self._divergence(divergence), generator, checkpoint
        )
        return gaussian_log_prob(x_end, self.prior_std()) + integral

    def sample_with_log_prob(
        self,
        states: Tensor,
        steps: int = LOG_PROB_STEPS,
        solver: str = "rk4",
        divergence: str | None = None,
        generator: torch.Generator | None = None,
        noise: Tensor | None = None,
        checkpoint: bool = False,
    ) -> tuple[Tensor, Tensor]:
        """Sample a ~ pi(. | s) and log pi(a | s) in one pass along the sampling ODE.

        ``checkpoint`` as in ``log_prob``.
        """
        self.check_states(states)
        x = self.draw_prior(states, generator) if noise is None else noise
        ts, cache = self.plan(steps, solver, states)
        field = self.velocity_field(states, cache)
        a, integral = odeint_with_divergence(
            field, x, ts, solver, self._divergence(divergence), generator, checkpoint
        )
        return a, gaussian_log_prob(x, self.prior_std()) - integral


class Flow(ODEModel):
    """Flow matching: the network predicts the velocity alpha' a + sigma' z."""

    kind = "flow"

    def loss(
        self, actions: Tensor, states: Tensor, noise: dict[str, Tensor] | None = None
    ) -> Tensor:
        self.check_actions(actions, states)
        ps = self.draw_xt(actions, noise)
        t = ps.t
        pred = self.net(ps.xt, self.net_time(t), states)
        target = self.path.target("velocity", actions, ps.noise, t)
        return ((pred - target) ** 2).mean(-1)

    def velocity_coefficients(self, t: float) -> tuple[float, float]:
        return 0.0, 1.0  # the network's output is the velocity


class Diffusion(ODEModel):
    """Denoising diffusion: the network predicts the noise z (epsilon), i.e. the score."""

    kind = "diffusion"
    solvers = (*ODE_SOLVERS, "sde")
    prediction = "noise"
    _END = 1e-3  # keep alpha_t away from 0 where the noise -> velocity conversion is singular

    def __init__(self, cfg: ModelConfig, action_dim: int, state_dim: int) -> None:
        super().__init__(cfg, action_dim, state_dim)
        self._coef: dict[float, tuple[float, float]] = {}
        t_max = self.path.t_max
        if float(self.path.alpha(torch.tensor(t_max, dtype=torch.float64))) < self._END:
            t_max = t_max - self._END
        self._t_max = t_max

    @property
    def t_max(self) -> float:
        return self._t_max

    def prior_std(self) -> float:
        t = torch.tensor(self.t_max, dtype=torch.float64)
        return float(torch.sqrt(self.path.sigma(t) ** 2 + self.path.sigma_min**2))

    def loss(
        self, actions: Tensor, states: Tensor, noise: dict[str, Tensor] | None = None
    ) -> Tensor:
        self.check_actions(actions, states)
        ps = self.draw_xt(actions, noise)
        pred = self.net(ps.xt, self.net_time(ps.t), states)
        return ((pred - ps.noise) ** 2).mean(-1)

    @torch.compiler.assume_constant_result
    def velocity_coefficients(self, t: float) -> tuple[float, float]:
        """(c_x, c_z) with v = c_x x + c_z z at time t (from x = alpha a + sigma z)."""
        coef = self._coef.get(t)
        if coef is None:
            tt = torch.tensor(t, dtype=torch.float64)
            p = self.path
            f = p.d_alpha(tt) / p.alpha(tt)
            coef = (float(f), float(p.d_sigma(tt) - f * p.sigma(tt)))
            self._coef[t] = coef
        return coef

    def sample_sde(
        self, states: Tensor, x: Tensor, ts: list[float], generator: torch.Generator | None
    ) -> Tensor:
        """Euler-Maruyama on the reverse SDE dx = [f x - g^2 score] dt + g dW."""
        if self.path.name not in ("vp", "ve"):
            raise GenpolicyError(
                f"solver 'sde' is stable only on the vp and ve paths, not {self.path.name!r}; "
                "use an ODE solver (euler, heun, midpoint, rk4)"
            )
        s_feat = self.net.state_features(states)
        cache = self.time_cache(ts, states)

        def sde_terms(t: float) -> tuple[float, float, float]:
            tt = torch.tensor(t, dtype=torch.float64)
            f, g2 = self.path.drift_diffusion(tt)
            return float(f), float(g2), float(self.path.sigma(tt))

        def drift(x: Tensor, t: float) -> Tensor:
            f, g2, sigma = sde_terms(t)
            eps = self.net.head(x, s_feat + cache[t])
            return f * x + (g2 / sigma) * eps  # f x - g^2 * score, score = -eps / sigma

        return euler_maruyama(drift, lambda t: sde_terms(t)[1] ** 0.5, x, ts, generator)
