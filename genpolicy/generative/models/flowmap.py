"""Flow-map models: learn the ODE's solution map Phi(x_t, t, s) and sample in 1..K jumps.

Parametrisation (consistency-trajectory form, generalised to any Gaussian path): with a
data prediction phi(x_t, t, s) from the network,

    Phi(x_t, t, s) = (sigma_s / sigma_t) x_t + (alpha_s - sigma_s alpha_t / sigma_t) phi,

which is exactly the map that the ODE realises when phi is constant along the trajectory
(DDIM); on the VE path x_t = a + t z it reads (s/t) x_t + (1 - s/t) phi. Phi(x, t, t) = x
holds by construction, and phi(x_t, t, t) is the data prediction that defines the
instantaneous velocity.

Loss (per sample, weighted by the caller):
  consistency  || Phi(x_t, t, tau) - sg Phi_ema(x_u, u, tau) ||^2,  t > u > tau,
               x_u = alpha_u a + sigma_u z with the same z (data-anchored; no ODE solver), or
               a few ODE steps of the EMA model's own field from x_t (``anchored=False``);
  flow         || a - phi(x_t, t, t) ||^2.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor

from genpolicy.errors import GenpolicyError
from genpolicy.generative.models.base import GenerativeModel, ModelConfig
from genpolicy.generative.nets import ConditionalMLP


class FlowMap(GenerativeModel):
    kind = "flowmap"
    capabilities = frozenset({"sample", "flow_map"})
    default_steps = 2  # K = 2 jumps: nearly as good as 5 (docs/algorithms/gtp.md)
    default_solver = "jump"

    @classmethod
    def resolve_sampler(
        cls, cfg: ModelConfig, steps: int | None = None, solver: str | None = None
    ) -> tuple[int, str]:
        """K = ``steps`` (else ``cfg.steps``, else 2) jumps; the solver is always "jump"
        (``cfg.solver``, an ODE solver name in configs written before, is accepted too)."""
        if solver not in (None, "jump", cfg.solver):
            raise GenpolicyError(
                f"a flow map samples with jumps: set the solver to jump (or leave it unset), "
                f"not {solver!r}"
            )
        steps = steps if steps is not None else cfg.steps
        return (cls.default_steps if steps is None else steps), "jump"

    @classmethod
    def check_solver(cls, solver: str) -> None:
        if solver != "jump":
            raise GenpolicyError(
                f"a flow map samples with jumps: set the solver to jump (or leave it unset), "
                f"not {solver!r}"
            )

    T_MIN = 2e-3  # smallest positive time used for training draws and as a jump start

    def __init__(self, cfg: ModelConfig, action_dim: int, state_dim: int) -> None:
        super().__init__(cfg, action_dim, state_dim, n_times=2)
        if not 0.0 < cfg.max_gap <= 1.0:
            raise GenpolicyError(f"flow map max_gap must lie in (0, 1], got {cfg.max_gap}")
        if not 0.0 <= cfg.ema < 1.0:
            raise GenpolicyError(f"flow map ema decay must lie in [0, 1), got {cfg.ema}")
        if not cfg.sigma_data > 0:
            raise GenpolicyError(f"model.sigma_data must be > 0, got {cfg.sigma_data}")
        self.target = copy.deepcopy(self.net).requires_grad_(False)

    # -- time scale ---------------------------------------------------------------------------
    def warp(self, r: Tensor) -> Tensor:
        """Map r in [0, 1] to time, r = 0 -> t_max, r = 1 -> T_MIN (Karras-style, exponent rho)."""
        lo, hi, rho = self.T_MIN, self.t_max, self.cfg.rho
        return (hi ** (1 / rho) + r * (lo ** (1 / rho) - hi ** (1 / rho))) ** rho

    @torch.compiler.assume_constant_result  # host constants: torch.compile folds them
    def jump_grid(self, steps: int) -> list[float]:
        """steps + 1 times from t_max to 0 on the warped scale (the last jump lands on data)."""
        if steps < 1:
            raise GenpolicyError(f"steps must be >= 1, got {steps}")
        r = torch.linspace(0.0, 1.0, steps + 1, dtype=torch.float64)
        ts = self.warp(r).tolist()
        ts[-1] = 0.0
        return ts

    # -- the map --------------------------------------------------------------------------------
    def coefficients(self, t: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
        p = self.path
        ratio = p.sigma(s) / p.sigma(t)
        return ratio, p.alpha(s) - ratio * p.alpha(t)

    def preconditioning(self, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(c_in, c_skip, c_out) at time t for x_t = alpha a + sigma z and actions of std
        sigma_data: with v = alpha^2 sigma_data^2 + sigma^2 (the variance of x_t),
        c_in = 1 / sqrt(v), c_skip = alpha sigma_data^2 / v (the linear part of E[a | x_t]),
        c_out = sigma sigma_data / sqrt(v) (the std of what is left). On the VE path
        (alpha 1, sigma t) these are EDM's."""
        alpha, sigma, sd = self.path.alpha(t), self.path.sigma(t), self.cfg.sigma_data
        v = alpha**2 * sd**2 + sigma**2
        return v.rsqrt(), alpha * sd**2 / v, sigma * sd * v.rsqrt()

    def data_prediction(
        self, x: Tensor, t: Tensor, s: Tensor, states: Tensor, net: ConditionalMLP | None = None
    ) -> Tensor:
        net = self.net if net is None else net
        times = torch.stack([t, s], dim=-1) / self.path.t_max
        if not self.cfg.precondition:
            return net(x, times, states)
        c_in, c_skip, c_out = self.preconditioning(t.unsqueeze(-1))
        return c_skip * x + c_out * net(c_in * x, times, states)

    def flow_map(
        self, x: Tensor, t: Tensor, s: Tensor, states: Tensor, net: ConditionalMLP | None = None
    ) -> Tensor:
        """Phi(x_t, t, s) for per-sample times t, s of shape (B,)."""
        cx, cd = self.coefficients(t.unsqueeze(-1), s.unsqueeze(-1))
        return cx * x + cd * self.data_prediction(x, t, s, states, net)

    # -- training -------------------------------------------------------------------------------
    def draw_time_triple(
        self, n: int, device: torch.device, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """t > u > tau on the warped scale; tau = 0 (a jump to data) for half the draws."""
        r = [torch.rand(n, device=device, generator=generator) for _ in range(4)]
        r_t = r[0] * 0.999
        r_tau = r_t + (1.0 - r_t) * r[1]
        r_u = r_t + (r_tau - r_t) * self.cfg.max_gap * r[2]
        t, u, tau = self.warp(r_t), self.warp(r_u), self.warp(r_tau)
        tau = torch.where(r[3] < 0.5, torch.zeros_like(tau), tau)  # half the draws jump to data
        return t, u, tau

    def loss_noise(
        self, n: int, like: Tensor, generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        """The time triple (t, u, tau), then z: the draws of ``loss_terms``."""
        t, u, tau = self.draw_time_triple(n, like.device, generator)
        shape = (n, self.action_dim)
        z = torch.randn(shape, generator=generator, device=like.device, dtype=like.dtype)
        return {"t": t, "u": u, "tau": tau, "z": z}

    def loss_terms(
        self, actions: Tensor, states: Tensor, noise: dict[str, Tensor] | None = None
    ) -> dict[str, Tensor]:
        """Per-sample consistency and flow losses, each of shape (B,)."""
        self.check_actions(actions, states)
        n = actions.shape[0]
        if noise is None:
            noise = self.loss_noise(n, actions)
        t, u, tau, z = noise["t"], noise["u"], noise["tau"], noise["z"]
        tt = t.unsqueeze(-1)
        xt = self.path.alpha(tt) * actions + self.path.sigma(tt) * z
        # one network call for phi(x_t, t, tau) and phi(x_t, t, t)
        phi = self.data_prediction(
            xt.repeat(2, 1), t.repeat(2), torch.cat([tau, t]), states.repeat(2, 1)
        )
        phi_tau, phi_t = phi[:n], phi[n:]
        cx, cd = self.coefficients(tt, tau.unsqueeze(-1))
        pred = cx * xt + cd * phi_tau
        with torch.no_grad():
            if self.cfg.anchored:
                uu = u.unsqueeze(-1)
                xu = self.path.alpha(uu) * actions + self.path.sigma(uu) * z
            else:
                xu = self._ode_steps(xt, t, u, states)
            target = self.flow_map(xu, u, tau, states, net=self.target)
        consistency = ((pred - target) ** 2).mean(-1)
        flow = ((phi_t - actions) ** 2).mean(-1)
        return {"consistency": consistency, "flow": flow}

    def _ode_steps(self, x: Tensor, t: Tensor, u: Tensor, states: Tensor) -> Tensor:
        """Euler steps of the EMA model's own field from t to u (the non-anchored ablation)."""
        k = self.cfg.target_steps
        for i in range(k):
            t0 = t + (u - t) * (i / k)
            t1 = t + (u - t) * ((i + 1) / k)
            x = self.flow_map(x, t0, t1, states, net=self.target)
        return x

    def loss(
        self, actions: Tensor, states: Tensor, noise: dict[str, Tensor] | None = None
    ) -> Tensor:
        terms = self.loss_terms(actions, states, noise)
        return self.cfg.consistency_weight * terms["consistency"] + (
            self.cfg.flow_weight * terms["flow"]
        )

    @torch.no_grad()
    def update_target(self, decay: float | None = None) -> None:
        d = self.cfg.ema if decay is None else decay
        for p_t, p in zip(self.target.parameters(), self.net.parameters(), strict=True):
            p_t.lerp_(p, 1.0 - d)

    # -- sampling --------------------------------------------------------------------------------
    def sample(
        self,
        states: Tensor,
        steps: int | None = None,
        solver: str | None = None,
        generator: torch.Generator | None = None,
        noise: Tensor | None = None,
    ) -> Tensor:
        """K = ``steps`` deterministic jumps from x_T ~ N(0, prior_std^2 I) to t = 0."""
        self.check_states(states)
        steps, _ = self.resolve_sampler(self.cfg, steps, solver)
        x = self.draw_prior(states, generator) if noise is None else noise
        ts, t_feat, coef = self.cached(("jumps", steps), x, lambda: self._jump_plan(steps, x))
        s_feat = self.net.state_features(states)
        for i, (cx, cd, c_in, c_skip, c_out) in enumerate(coef):
            if self.cfg.precondition:
                out = self.net.head(x * c_in, s_feat + t_feat[i])
                phi = torch.add(out * c_out, x, alpha=c_skip)
            else:
                phi = self.net.head(x, s_feat + t_feat[i])
            x = phi if cx == 0.0 and cd == 1.0 else torch.add(phi * cd, x, alpha=cx)
        return x

    def _jump_plan(
        self, steps: int, like: Tensor
    ) -> tuple[list[float], Tensor, list[tuple[float, ...]]]:
        """Jump grid, time features of each (t, s) pair, the map's coefficients and the
        preconditioning's (c_in, c_skip, c_out) at each jump's start."""
        ts = self.jump_grid(steps)
        pairs = torch.tensor([ts[:-1], ts[1:]], dtype=like.dtype, device=like.device).T
        t_feat = self.net.time_features(pairs / self.path.t_max)  # (K, hidden)
        return ts, t_feat, self._jump_coefficients(steps, like.dtype)

    @torch.compiler.assume_constant_result  # host constants: torch.compile folds them
    def _jump_coefficients(self, steps: int, dtype: torch.dtype) -> list[tuple[float, ...]]:
        """(c_x, c_d, c_in, c_skip, c_out) of each jump of a ``steps``-jump plan."""
        ts = self.jump_grid(steps)
        pairs = torch.tensor([ts[:-1], ts[1:]], dtype=dtype).T
        start = pairs[:, 0].double()
        cx, cd = self.coefficients(start, pairs[:, 1].double())
        c_in, c_skip, c_out = self.preconditioning(start)
        cols = (cx, cd, c_in, c_skip, c_out)
        return list(zip(*(c.tolist() for c in cols), strict=True))
