"""Probability paths between data and noise.

Every path here is a Gaussian conditional path

    x_t = alpha_t * a + sigma_t * z,    z ~ N(0, I),

with time running from data (t = t_min, alpha ~ 1, sigma ~ 0) to noise (t = t_max). The
conditional velocity is d x_t / dt = alpha'_t a + sigma'_t z, and the marginal velocity
field (the probability-flow ODE) is its conditional expectation given x_t. A network can
predict the noise z, the data a, or the velocity; ``convert`` moves between them, which is
why a sampler never needs to know what the network was trained to predict.

The I-CFM path adds a constant independent noise ``sigma_min * eps`` to x_t; it does not
enter the velocity target (as in conditional flow matching), only ``sample_xt`` and the
prior's scale.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import Tensor

from genpolicy.errors import GenpolicyError, unknown_name

PREDICTIONS = ("noise", "data", "velocity", "score")


@dataclass(frozen=True)
class PathSample:
    """A draw of x_t along with what produced it (the matching targets derive from these)."""

    xt: Tensor
    t: Tensor  # (B,)
    noise: Tensor  # z


class Path(ABC):
    """alpha_t, sigma_t and their time derivatives; t is a tensor broadcastable to the batch."""

    name: str = ""
    t_min: float = 0.0
    t_max: float = 1.0
    sigma_min: float = 0.0  # extra constant noise (I-CFM)

    @abstractmethod
    def alpha(self, t: Tensor) -> Tensor: ...

    @abstractmethod
    def sigma(self, t: Tensor) -> Tensor: ...

    @abstractmethod
    def d_alpha(self, t: Tensor) -> Tensor: ...

    @abstractmethod
    def d_sigma(self, t: Tensor) -> Tensor: ...

    # -- derived quantities ------------------------------------------------------------
    @property
    def prior_std(self) -> float:
        """Standard deviation of x at t_max when a has zero mean and tiny spread."""
        t = torch.tensor(self.t_max, dtype=torch.float64)
        return math.sqrt(float(self.sigma(t)) ** 2 + self.sigma_min**2)

    def drift_diffusion(self, t: Tensor) -> tuple[Tensor, Tensor]:
        """f(t), g(t)^2 of the forward SDE dx = f x dt + g dW with these marginals."""
        a, s, da, ds = self.alpha(t), self.sigma(t), self.d_alpha(t), self.d_sigma(t)
        f = da / a
        g2 = 2.0 * s * ds - 2.0 * f * s * s
        return f, g2

    def sample_xt(
        self, a: Tensor, t: Tensor, noise: Tensor | None = None, extra: Tensor | None = None
    ) -> PathSample:
        """Draw x_t ~ p_t(x | a) for a batch of actions a (B, D) at times t (B,); ``noise``
        (z) and ``extra`` (the I-CFM's sigma_min noise) are drawn here unless given."""
        if noise is None:
            noise = torch.randn_like(a)
        tt = t.reshape(-1, *([1] * (a.dim() - 1)))
        xt = self.alpha(tt) * a + self.sigma(tt) * noise
        if self.sigma_min > 0.0:
            xt = xt + self.sigma_min * (torch.randn_like(a) if extra is None else extra)
        return PathSample(xt=xt, t=t, noise=noise)

    def target(self, prediction: str, a: Tensor, noise: Tensor, t: Tensor) -> Tensor:
        """The regression target of a matching loss for a network predicting ``prediction``."""
        tt = t.reshape(-1, *([1] * (a.dim() - 1)))
        if prediction == "noise":
            return noise
        if prediction == "data":
            return a
        if prediction == "velocity":
            return self.d_alpha(tt) * a + self.d_sigma(tt) * noise
        if prediction == "score":
            return -noise / self.sigma(tt)
        raise unknown_name("prediction", prediction, PREDICTIONS)

    def convert(self, value: Tensor, x: Tensor, t: Tensor, source: str, dest: str) -> Tensor:
        """Convert a prediction at (x, t) from one parametrisation to another.

        Uses x = alpha a + sigma z and v = alpha' a + sigma' z; the score is -z / sigma.
        """
        if source == dest:
            return value
        tt = t.reshape(-1, *([1] * (x.dim() - 1))) if t.dim() > 0 else t
        al, si, da, ds = self.alpha(tt), self.sigma(tt), self.d_alpha(tt), self.d_sigma(tt)
        # first to (data, noise)
        if source == "noise":
            z = value
            a = (x - si * z) / al
        elif source == "score":
            z = -value * si
            a = (x - si * z) / al
        elif source == "data":
            a = value
            z = (x - al * a) / si
        elif source == "velocity":
            det = al * ds - si * da
            a = (ds * x - si * value) / det
            z = (al * value - da * x) / det
        else:
            raise unknown_name("prediction", source, PREDICTIONS)
        if dest == "data":
            return a
        if dest == "noise":
            return z
        if dest == "score":
            return -z / si
        if dest == "velocity":
            return da * a + ds * z
        raise unknown_name("prediction", dest, PREDICTIONS)

    def time_grid(
        self,
        steps: int,
        t_min: float | None = None,
        t_max: float | None = None,
        power: float = 1.0,
    ) -> Tensor:
        """steps + 1 times from t_max (noise) down to t_min (data): t_min + (t_max - t_min)
        u^power for u equally spaced from 1 to 0 (power 1: equally spaced times; power > 1:
        finer steps near the data end)."""
        if steps < 1:
            raise GenpolicyError(f"steps must be >= 1, got {steps}")
        lo = self.t_min if t_min is None else t_min
        hi = self.t_max if t_max is None else t_max
        if power == 1.0:
            return torch.linspace(hi, lo, steps + 1)
        u = torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64)
        grid = (lo + (hi - lo) * u**power).float()
        grid[0], grid[-1] = hi, lo  # exact end points
        return grid


class VPSDE(Path):
    """Variance-preserving SDE with linear beta(t) = beta0 + t (beta1 - beta0)."""

    name = "vp"

    def __init__(self, beta0: float = 0.1, beta1: float = 20.0, t_min: float = 1e-3) -> None:
        self.beta0, self.beta1, self.t_min, self.t_max = beta0, beta1, t_min, 1.0

    def _log_alpha(self, t: Tensor) -> Tensor:
        return -0.25 * t * t * (self.beta1 - self.beta0) - 0.5 * t * self.beta0

    def beta(self, t: Tensor) -> Tensor:
        return self.beta0 + t * (self.beta1 - self.beta0)

    def alpha(self, t: Tensor) -> Tensor:
        return torch.exp(self._log_alpha(t))

    def sigma(self, t: Tensor) -> Tensor:
        return torch.sqrt(-torch.expm1(2.0 * self._log_alpha(t)))

    def d_alpha(self, t: Tensor) -> Tensor:
        return -0.5 * self.beta(t) * self.alpha(t)

    def d_sigma(self, t: Tensor) -> Tensor:
        a = self.alpha(t)
        return 0.5 * self.beta(t) * a * a / self.sigma(t)


class GVP(Path):
    """Generalised variance-preserving (trigonometric) path: cos / sin."""

    name = "gvp"

    def alpha(self, t: Tensor) -> Tensor:
        return torch.cos(0.5 * math.pi * t)

    def sigma(self, t: Tensor) -> Tensor:
        return torch.sin(0.5 * math.pi * t)

    def d_alpha(self, t: Tensor) -> Tensor:
        return -0.5 * math.pi * torch.sin(0.5 * math.pi * t)

    def d_sigma(self, t: Tensor) -> Tensor:
        return 0.5 * math.pi * torch.cos(0.5 * math.pi * t)


class Linear(Path):
    """Linear interpolation (rectified flow / I-CFM): alpha = 1 - t, sigma = t (+ sigma_min)."""

    name = "linear"

    def __init__(self, sigma_min: float = 0.0) -> None:
        if sigma_min < 0:
            raise GenpolicyError(f"linear path sigma_min must be >= 0, got {sigma_min}")
        self.sigma_min = sigma_min

    def alpha(self, t: Tensor) -> Tensor:
        return 1.0 - t

    def sigma(self, t: Tensor) -> Tensor:
        return t

    def d_alpha(self, t: Tensor) -> Tensor:
        return -torch.ones_like(t)

    def d_sigma(self, t: Tensor) -> Tensor:
        return torch.ones_like(t)


class VE(Path):
    """Variance-exploding path x_t = a + t z on t in [0, T] (EDM / consistency models)."""

    name = "ve"

    def __init__(self, t_max: float = 5.0) -> None:
        if t_max <= 0:
            raise GenpolicyError(f"VE path t_max must be > 0, got {t_max}")
        self.t_max = t_max

    def alpha(self, t: Tensor) -> Tensor:
        return torch.ones_like(t)

    def sigma(self, t: Tensor) -> Tensor:
        return t

    def d_alpha(self, t: Tensor) -> Tensor:
        return torch.zeros_like(t)

    def d_sigma(self, t: Tensor) -> Tensor:
        return torch.ones_like(t)


PATHS: dict[str, type[Path]] = {"vp": VPSDE, "gvp": GVP, "linear": Linear, "ve": VE}


def make_path(name: str, **kwargs: float) -> Path:
    """Build a path by name ("vp", "gvp", "linear", "ve"); kwargs go to its constructor."""
    if name not in PATHS:
        raise unknown_name("path", name, PATHS)
    try:
        return PATHS[name](**kwargs)
    except TypeError as exc:
        raise GenpolicyError(f"bad options {kwargs} for path {name!r}: {exc}") from None
