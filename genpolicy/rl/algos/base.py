"""What every algorithm shares: config fields, observation normalisation, acting, training
state, and the learning-efficiency levers (learning-rate schedule, critic warm-up, policy
EMA, advantage weights).

An algorithm is an ``nn.Module`` holding its networks and optimisers. The training loop
only calls ``set_horizon(total_updates)`` and ``attach_dataset(dataset)`` once, then
``update(batch) -> dict[str, Tensor]`` (scalars, not synchronised with ``.item()``),
``act(obs)`` and ``training_state()`` / ``load_training_state()``; speed measurement also
walks ``speed_phases()``.

A class states what it needs from a generative model in ``requires`` (capabilities of
``genpolicy.generative.models.CAPABILITIES``); ``genpolicy.rl.algos.check_model`` checks it,
both when a config is validated and when the algorithm is built. Its optional parts are
declared too: ``critic`` (None for algorithms without one) and the config's
``pretrain_updates`` (0 for algorithms without a behaviour-pretraining phase).

Learning rate of the policy optimiser at update n of a schedule over [start, end)
(``scheduled_lr``; the critic's stays constant), with k = n - start, H = end - start,
W = ``lr_warmup``, r = ``lr_min_ratio``, p = clip((k - W) / (H - W), 0, 1):

    lr_n = lr * min(1, (k + 1) / W) * f(p),   f = 1 (constant),
           r + (1 - r) (1 + cos(pi p)) / 2 (cosine),   1 - (1 - r) p (linear).

It depends on the update counter only, so a resumed run follows the same schedule.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np
import torch
from torch import Tensor, nn

from genpolicy.errors import GenpolicyError, unknown_name
from genpolicy.rl.algos.acting import ActConfig, Selector, generative_act
from genpolicy.rl.optim import optimizer_step

if TYPE_CHECKING:
    from genpolicy.generative.models import ModelConfig
    from genpolicy.rl.critics import CriticConfig

LR_SCHEDULES = ("constant", "cosine", "linear")


class BatchLike(Protocol):
    observations: Tensor
    actions: Tensor
    rewards: Tensor
    next_observations: Tensor
    terminals: Tensor


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


class Algorithm(nn.Module):
    """Base class; subclasses set ``name``, make their networks in ``build`` and implement
    the hooks below.

    Every algorithm is constructed as ``cls(cfg, model_cfg, critic_cfg, obs_dim, act_dim,
    device)``: the shared state first, then ``build(model_cfg, critic_cfg)``, then
    everything moves to ``device``. Subclasses with a generative policy call
    ``init_policy_ema(decay)`` in ``build`` once the policy exists and
    ``update_policy_ema()`` after each policy step; ``acting_policy()`` is the EMA copy
    when there is one.
    """

    name: ClassVar[str] = ""
    requires: ClassVar[tuple[str, ...]] = ()  # model capabilities (genpolicy.generative.models)
    obs_shift: Tensor
    obs_scale: Tensor
    cfg: AlgoConfig
    policy: Any
    policy_ema: Any  # a frozen copy of ``policy`` (nn.Module) or None
    behaviour: Any  # a behaviour model mu, where the algorithm has one (init_behaviour)
    critic: Any  # the critic (a ``genpolicy.rl.critics.Critic``) or None

    def __init__(
        self,
        cfg: AlgoConfig,
        model_cfg: ModelConfig,
        critic_cfg: CriticConfig,
        obs_dim: int,
        act_dim: int,
        device: str = "cpu",
    ) -> None:
        super().__init__()
        self.obs_dim = obs_dim
        self.act_dim = act_dim
        self.cfg = cfg
        self.batch_size = cfg.batch_size
        self.device = torch.device(device)
        self.num_updates = 0
        self.horizon: int | None = None  # total updates of the run (set_horizon)
        self.policy_ema = None
        self.critic = None  # algorithms with a critic make it in build()
        self.ema_decay = 0.0
        # raw observation -> (obs - shift) / scale, copied from the dataset's normaliser
        self.register_buffer("obs_shift", torch.zeros(obs_dim))
        self.register_buffer("obs_scale", torch.ones(obs_dim))
        self.act_generator = torch.Generator(device=self.device)
        self.build(model_cfg, critic_cfg)
        self.to(self.device)

    # ---- hooks for subclasses -------------------------------------------------------
    def build(self, model_cfg: ModelConfig, critic_cfg: CriticConfig) -> None:
        """Make the networks, critic, optimisers and EMA copy (``self.cfg``, ``obs_dim`` and
        ``act_dim`` are set; the constructor moves them to the device afterwards).

        The order in which modules are created draws their initial weights from the global
        RNG and fixes the state-dict keys: keep it when editing an algorithm."""
        raise NotImplementedError

    @classmethod
    def for_config(cls, cfg: Any) -> type[Algorithm]:
        """The class that builds ``cfg`` (a registered name may dispatch to variants)."""
        return cls

    def update(self, batch: BatchLike) -> dict[str, Tensor]:
        raise NotImplementedError

    def attach_dataset(self, dataset: Any) -> None:
        """The dataset the batches come from (an ``OfflineDataset``), given before training.

        Most algorithms need nothing but the batches; one that precomputes something per
        dataset row (QGPO's support actions) keeps what it needs and reads ``batch.indices``.
        """

    def act_normalized(self, obs: Tensor, act_cfg: ActConfig | None) -> Tensor:
        """Actions (B, act_dim) in [-1, 1] for already-normalised observations (B, obs_dim);
        ``act_cfg`` is the sampler's settings (None for policies without a sampler)."""
        raise NotImplementedError

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def speed_phases(self) -> list[str]:
        """The training phases, in run order, that ``measure_speed`` times (the last one
        is the run's steady state); ``start_phase`` puts the algorithm at one's start."""
        return ["train"]

    def start_phase(self, phase: str) -> None:
        """Jump to the first update of ``phase`` (for timing only: weights stay as they are).

        The default phase starts after the critic warm-up, so full updates are timed."""
        if phase not in self.speed_phases():
            raise GenpolicyError(
                f"{self.name} has no training phase {phase!r}; phases: {self.speed_phases()}"
            )
        self.num_updates = self.cfg.critic_warmup

    def q_for_ranking(self, obs: Tensor, act: Tensor) -> Tensor:
        """Q(s, a) that ranks ``act.candidates`` sampled actions: the ONLINE critic's
        min over its members (algorithms without a critic cannot rank)."""
        critic = self.critic
        if critic is None:
            raise GenpolicyError(
                f"{self.name} has no critic to rank actions by; set act.candidates=1"
            )
        q: Tensor = critic.q_min(obs, act, target=False)
        return q

    def sample_actions(
        self,
        model: Any,
        obs: Tensor,
        act_cfg: ActConfig | None,
        score_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
        select: Selector | None = None,
    ) -> Tensor:
        """``generative_act`` with this algorithm's acting generator; candidates are scored
        by ``score_fn`` (default: ``q_for_ranking``) and picked by ``select`` (default:
        the highest score)."""
        cfg = act_cfg if act_cfg is not None else ActConfig()
        if score_fn is None and self.critic is not None:
            score_fn = self.q_for_ranking
        return generative_act(model, obs, cfg, self.act_generator, score_fn, select)

    # ---- shared -------------------------------------------------------------------------
    def set_horizon(self, total_updates: int) -> None:
        """The run length the learning-rate schedules decay over (the trainer sets it)."""
        if total_updates < 1:
            raise GenpolicyError(f"the run length must be >= 1 update, got {total_updates}")
        self.horizon = int(total_updates)

    def scheduled_lr(
        self, lr: float | None = None, start: int = 0, end: int | None = None
    ) -> float:
        """The policy's lr for this update: ``cfg``'s schedule over updates [start, end).

        ``lr`` defaults to ``cfg.lr`` and ``end`` to the horizon (``set_horizon``).
        """
        c = self.cfg
        base = c.lr if lr is None else lr
        if end is None:
            if self.horizon is None and c.lr_schedule != "constant":
                raise GenpolicyError(
                    f"algo.lr_schedule={c.lr_schedule!r} needs the run length: call "
                    "algo.set_horizon(total_updates) before training (the trainer does)"
                )
            end = self.horizon if self.horizon is not None else self.num_updates + 1
        return scheduled_lr(
            base,
            self.num_updates - start,
            end - start,
            c.lr_schedule,
            c.lr_warmup,
            c.lr_min_ratio,
        )

    @property
    def critic_warming_up(self) -> bool:
        """True during the first ``critic_warmup`` updates (the critic trains alone)."""
        return self.num_updates < self.cfg.critic_warmup

    def init_policy_ema(self, decay: float) -> None:
        """Keep an EMA copy of ``self.policy`` (decay > 0) that acting uses."""
        self.ema_decay = float(decay)
        if decay > 0:
            ema = copy.deepcopy(self.policy).requires_grad_(False)
            for m in ema.modules():  # sampler plans are rebuilt for the copy's own weights
                cache = getattr(m, "_sampler_cache", None)
                if isinstance(cache, dict):
                    cache.clear()
            self.policy_ema = ema
        else:
            self.policy_ema = None

    @torch.no_grad()
    def update_policy_ema(self) -> None:
        """ema <- decay * ema + (1 - decay) * policy, over the policy's trained parameters."""
        if self.policy_ema is None:
            return
        pairs = [
            (e, p)
            for e, p in zip(self.policy_ema.parameters(), self.policy.parameters(), strict=True)
            if p.requires_grad
        ]
        if pairs:
            dst, src = [e for e, _ in pairs], [p for _, p in pairs]
            torch._foreach_lerp_(dst, src, 1.0 - self.ema_decay)

    @torch.no_grad()
    def reset_policy_ema(self) -> None:
        """ema <- policy (e.g. when GMPG copies the behaviour model into the policy)."""
        if self.policy_ema is not None:
            self.policy_ema.load_state_dict(self.policy.state_dict())

    def acting_policy(self) -> Any:
        """The policy network acting uses: the EMA copy if there is one."""
        return self.policy_ema if self.policy_ema is not None else self.policy

    @property
    def pretraining(self) -> bool:
        """Whether the update counter is still in the behaviour-pretraining phase
        (``cfg.pretrain_steps``, for algorithms that have one: GMPG, QGPO, SRPO)."""
        return self.num_updates < self.cfg.pretrain_updates

    def init_behaviour(self, model_cfg: Any, lr: float) -> None:
        """A behaviour model ``self.behaviour`` (``model_cfg``) and its Adam
        ``self.behaviour_opt``, for algorithms that pretrain mu by matching (QGPO, SRPO)."""
        from genpolicy.generative.models import build_model

        self.behaviour = build_model(model_cfg, action_dim=self.act_dim, state_dim=self.obs_dim)
        self.behaviour_opt = torch.optim.Adam(self.behaviour.parameters(), lr=lr, foreach=True)

    def pretrain_step(self, obs: Tensor, act: Tensor, lr: float, end: int) -> dict[str, Tensor]:
        """One matching step of ``self.behaviour`` at ``lr`` on ``cfg``'s schedule over
        updates [0, end); returns ``behaviour/loss`` (the caller counts the update)."""
        loss = self.behaviour.loss(act, obs).mean()
        optimizer_step(self.behaviour_opt, loss, lr=self.scheduled_lr(lr, end=end))
        return {"behaviour/loss": loss.detach()}

    def acting_weights(self) -> str:
        """'ema' if acting uses the EMA copy of the policy, else 'online'."""
        return "ema" if self.policy_ema is not None else "online"

    def set_obs_normalizer(self, shift: Tensor, scale: Tensor) -> None:
        self.obs_shift.copy_(shift.to(self.obs_shift))
        self.obs_scale.copy_(scale.to(self.obs_scale))

    def seed_acting(self, seed: int) -> None:
        """Seed the generator used by ``act`` (evaluation never touches the global RNG)."""
        self.act_generator.manual_seed(seed)

    @torch.inference_mode()
    def act(self, obs: np.ndarray, act_cfg: ActConfig | None = None) -> np.ndarray:
        """Actions for raw observations, (obs_dim,) or (B, obs_dim); float32, in [-1, 1].

        ``act_cfg``: sampler settings for this call (default: ``cfg.act``); evaluating with
        other settings passes a new one instead of changing the config.
        """
        if act_cfg is None:
            act_cfg = getattr(self.cfg, "act", None)
        x = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
        single = x.dim() == 1
        if single:
            x = x.unsqueeze(0)
        if x.shape[-1] != self.obs_dim:
            raise GenpolicyError(
                f"observation has {x.shape[-1]} features but the policy expects {self.obs_dim}"
            )
        a = self.act_normalized((x - self.obs_shift) / self.obs_scale, act_cfg).clamp_(-1.0, 1.0)
        out = a.cpu().numpy()
        return out[0] if single else out

    def get_extra_state(self) -> Any:
        return {"num_updates": self.num_updates}

    def set_extra_state(self, state: Any) -> None:
        self.num_updates = int(state["num_updates"])

    def training_state(self) -> dict[str, Any]:
        return {
            "modules": self.state_dict(),
            "optimizers": {k: o.state_dict() for k, o in self.optimizers().items()},
        }

    def load_training_state(self, state: dict[str, Any], strict: bool = True) -> None:
        self.load_state_dict(state["modules"], strict=strict)
        for k, opt in self.optimizers().items():
            if k in state.get("optimizers", {}):
                opt.load_state_dict(state["optimizers"][k])
