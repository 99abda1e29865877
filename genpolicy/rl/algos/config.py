"""The config fields every algorithm shares (``AlgoConfig``), their checks, and the policy's
learning-rate schedule.

Learning rate of the policy optimiser at update n of a schedule over [start, end)
(``scheduled_lr``; the critic's stays constant), with k = n - start, H = end - start,
W = ``lr_warmup``, r = ``lr_min_ratio``, p = clip((k - W) / (H - W), 0, 1):

    lr_n = lr * min(1, (k + 1) / W) * f(p),   f = 1 (constant),
           r + (1 - r) (1 + cos(pi p)) / 2 (cosine),   1 - (1 - r) p (linear).

It depends on the update counter only, so a resumed run follows the same schedule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from genpolicy.errors import GenpolicyError, unknown_name
from genpolicy.rl.algos.acting import ActConfig

LR_SCHEDULES = ("constant", "cosine", "linear")


@dataclass
class AlgoConfig:
    """The fields every algorithm's config has (each algorithm's config subclasses it)."""

    name: str = ""
    batch_size: int = 256
    lr: float = 3e-4  # the policy optimiser's (peak) learning rate
    grad_clip: float = 0.0  # max gradient norm of the policy; 0: no clipping
    lr_schedule: str = "constant"  # constant | cosine | linear (decay to lr * lr_min_ratio)
    lr_warmup: int = 0  # updates of linear warm-up from lr / lr_warmup to lr
    lr_min_ratio: float = 0.0  # final lr / lr of the cosine and linear schedules
    critic_warmup: int = 0  # first updates that train the critic only (policy untouched)

    # False: the algorithm has no critic-only phase, and critic_warmup must stay 0
    supports_critic_warmup: ClassVar[bool] = True

    def validate(self) -> None:
        """Check the shared fields; subclasses call this first and then check their own."""
        if self.batch_size < 1:
            raise GenpolicyError(f"algo.batch_size must be >= 1, got {self.batch_size}")
        if not self.lr > 0:
            raise GenpolicyError(f"algo.lr must be > 0, got {self.lr}")
        if not self.grad_clip >= 0:
            raise GenpolicyError(f"algo.grad_clip must be >= 0 (0: off), got {self.grad_clip}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise unknown_name("algo.lr_schedule", self.lr_schedule, LR_SCHEDULES)
        if self.lr_warmup < 0:
            raise GenpolicyError(f"algo.lr_warmup must be >= 0 (0: off), got {self.lr_warmup}")
        if not 0.0 <= self.lr_min_ratio <= 1.0:
            raise GenpolicyError(f"algo.lr_min_ratio must be in [0, 1], got {self.lr_min_ratio}")
        if self.critic_warmup < 0:
            raise GenpolicyError(
                f"algo.critic_warmup must be >= 0 (0: off), got {self.critic_warmup}"
            )
        if self.critic_warmup and not self.supports_critic_warmup:
            raise GenpolicyError(
                f"algo.critic_warmup does not apply to {self.name!r}: set algo.critic_warmup=0"
            )

    @property
    def pretrain_updates(self) -> int:
        """Updates of behaviour pretraining before the policy phase (0: none; GMPG, QGPO and
        SRPO configs return their ``pretrain_steps``)."""
        return 0

    def samples_actions(self) -> bool:
        """Whether acting runs a sampler whose ``act`` settings (steps, solver) apply."""
        return isinstance(getattr(self, "act", None), ActConfig)


def check(ok: bool, message: str) -> None:
    """Raise ``GenpolicyError(message)`` unless ``ok`` (one config check per line)."""
    if not ok:
        raise GenpolicyError(message)


def check_ema(ema: float) -> None:
    if not 0.0 <= ema < 1.0:
        raise GenpolicyError(
            f"algo.ema must be in [0, 1) (0: act with the online weights), got {ema}"
        )


def scheduled_lr(
    lr: float,
    step: int,
    horizon: int,
    schedule: str = "constant",
    warmup: int = 0,
    min_ratio: float = 0.0,
) -> float:
    """Learning rate of update ``step`` (0-based) of a run of ``horizon`` updates.

    Linear warm-up over the first ``warmup`` updates ((step + 1) / warmup of ``lr``), then
    ``schedule`` decays from ``lr`` at ``step == warmup`` to ``lr * min_ratio`` at
    ``step == horizon`` (the constant schedule stays at ``lr``); pure and stateless.
    """
    scale = (step + 1) / warmup if 0 <= step < warmup else 1.0
    if schedule == "constant":
        return lr * scale
    span = horizon - warmup
    p = min(max((step - warmup) / span, 0.0), 1.0) if span > 0 else 1.0
    if schedule == "cosine":
        f = min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * p))
    elif schedule == "linear":
        f = 1.0 - (1.0 - min_ratio) * p
    else:
        raise unknown_name("algo.lr_schedule", schedule, LR_SCHEDULES)
    return lr * scale * f
