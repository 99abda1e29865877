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

One update is an eager shell around a tensor-only step (``update``): the shell reads the
update counter (a Python int) to pick the ``phase`` ("warmup" while the critic trains
alone, "train" after; "pretrain" / "policy" for algorithms with behaviour pretraining) and
its learning rate, runs ``step(batch, phase)`` and counts the update. ``step`` never reads
the counter nor synchronises with the host, so ``compile_update`` (``train.compile``) can
hand each phase's step to ``torch.compile`` whole: critic, policy, target and EMA updates
and the optimiser steps, with the learning rate a device tensor filled in place.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np
import torch
from torch import Tensor, nn

from genpolicy.errors import GenpolicyError, unknown_name
from genpolicy.generative.models.base import no_value_checks
from genpolicy.rl.algos.acting import ActConfig, Selector, generative_act
from genpolicy.rl.algos.config import (  # noqa: F401 (re-exported)
    LR_SCHEDULES,
    AlgoConfig,
    check,
    check_ema,
    scheduled_lr,
)
from genpolicy.rl.optim import (
    LONE,
    LossFn,
    Lr,
    NoiseFn,
    Stepper,
    init_adam_state,
    optimizer_step,
)

if TYPE_CHECKING:
    from genpolicy.generative.models import ModelConfig
    from genpolicy.rl.critics import CriticConfig

COMPILE_MODES = ("off", "default", "max-autotune", "reduce-overhead")


class BatchLike(Protocol):
    observations: Tensor
    actions: Tensor
    rewards: Tensor
    next_observations: Tensor
    terminals: Tensor


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
    step_lr: Tensor
    cfg: AlgoConfig
    policy: Any
    policy_ema: Any  # a frozen copy of ``policy`` (nn.Module) or None
    behaviour: Any  # a behaviour model mu, where the algorithm has one (init_behaviour)
    critic: Any  # the critic (a ``genpolicy.rl.critics.Critic``) or None
    stepper: Stepper = LONE  # how optimiser steps run (``set_stepper``: a population's)

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
        self._lr_value = cfg.lr  # this update's scheduled lr (``lr()``), set by ``update``
        self._compile: dict[str, Any] | None = None  # torch.compile options (compile_update)
        self._compiled: dict[str, Callable[..., dict[str, Tensor]]] = {}  # one per phase
        self._act_fn: Callable[..., Tensor] | None = None  # compiled act_normalized
        # the scheduled lr as a tensor, filled in place each update (compiled steps read it)
        self.register_buffer("step_lr", torch.tensor(float(cfg.lr)), persistent=False)
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

    def step(self, batch: BatchLike, phase: str) -> dict[str, Tensor]:
        """The tensor work of one update in ``phase`` (losses, optimiser steps, target and
        EMA updates); returns scalar tensors. It must not read ``num_updates`` nor call
        ``.item()``: ``compile_update`` compiles it, one function per phase."""
        raise NotImplementedError

    def phase(self) -> str:
        """The phase of the coming update, from the update counter alone: "warmup" during
        ``critic_warmup``, then "train"."""
        return "warmup" if self.critic_warming_up else "train"

    def phase_lr(self, phase: str) -> float:
        """The scheduled learning rate of the coming update in ``phase`` (``lr()``)."""
        return self.scheduled_lr(start=self.cfg.critic_warmup)

    def prepare(self, phase: str) -> None:
        """Eager work before ``step`` in ``phase`` (e.g. QGPO draws its support actions
        once, at the first update of its policy phase)."""

    def end_update(self, phase: str) -> None:
        """Bookkeeping after ``step`` on Python ints (the counter is not yet incremented)."""

    def hyper(self, name: str) -> float | Tensor:
        """The temperature-like setting ``cfg.<name>`` (``beta``, ``eta``) as the loss reads
        it: the config's float in a lone run; in a population whose members differ in it,
        the members' values (a ``hyper_<name>`` buffer, one value per member under vmap)."""
        t = self._buffers.get(f"hyper_{name}")
        if t is None:
            value: float = getattr(self.cfg, name)
            return value
        return t

    def lr(self) -> Lr:
        """This update's scheduled learning rate: a float eagerly, the ``step_lr`` tensor
        (filled by ``update``) inside a compiled step."""
        if torch.compiler.is_compiling():
            return self.step_lr
        return self._lr_value

    def update(self, batch: BatchLike) -> dict[str, Tensor]:
        """One update: pick the phase and learning rate from the counter, run ``step``
        (compiled with ``compile_update``), count it."""
        phase = self.phase()
        self._lr_value = self.phase_lr(phase)
        self.prepare(phase)
        fn = self._compiled_step(phase) if self._compile is not None else None
        with no_value_checks():  # the dataset's values were checked when it was loaded
            if fn is None:
                out = self.step(batch, phase)
            else:
                self.step_lr.fill_(self._lr_value)
                if self._compile is not None and self._compile.get("mode") == "reduce-overhead":
                    torch.compiler.cudagraph_mark_step_begin()  # outputs: this update's
                with torch._dynamo.config.patch(trace_autograd_ops=True):
                    out = fn(batch)
        self.end_update(phase)
        self.num_updates += 1
        return out

    # phases whose step stays eager under compile_update (an algorithm may list phases
    # that compiling does not pay for)
    eager_phases: ClassVar[tuple[str, ...]] = ()

    def compile_update(
        self, mode: str = "default", *, backend: str = "inductor", fullgraph: bool = True
    ) -> None:
        """Compile ``step`` with ``torch.compile`` from the next update on, one function per
        phase (made at the phase's first update). ``mode``: one of ``COMPILE_MODES``
        ("off" undoes it); ``backend`` other than inductor ignores ``mode`` (tests use
        "aot_eager"). On CUDA the Adam steps are fused; Adam's state is made now, so the
        compiled steps see it from their first call."""
        if mode not in COMPILE_MODES:
            raise unknown_name("train.compile", mode, COMPILE_MODES)
        self._compiled = {}
        if mode == "off":
            self._compile = None
            return
        for m in self.modules():  # lazily cached host constants, set before any tracing
            if getattr(m, "_prior_std", 0.0) is None:
                prior_std: Callable[[], float] = getattr(m, "prior_std")  # noqa: B009
                setattr(m, "_prior_std", prior_std())  # noqa: B010
        for opt in self.optimizers().values():
            if self.device.type == "cuda":
                for group in opt.param_groups:
                    group["fused"], group["foreach"] = True, False
            init_adam_state(opt)
        opts: dict[str, Any] = {"backend": backend, "fullgraph": fullgraph}
        if backend == "inductor" and mode != "default":
            opts["mode"] = mode
        self._compile = opts

    def compile_acting(self, mode: str = "default", *, backend: str = "inductor") -> None:
        """Compile ``act_normalized`` (the sampler and any candidate ranking) for the batch
        sizes it meets; evaluation acts at one fixed batch (its vectorised environments), so
        it compiles once. Graph breaks (a seeded generator's draws) are allowed here."""
        if mode not in COMPILE_MODES:
            raise unknown_name("train.compile", mode, COMPILE_MODES)
        if mode == "off":
            self._act_fn = None
            return
        opts: dict[str, Any] = {"backend": backend, "dynamic": False}
        if backend == "inductor" and mode not in ("default", "reduce-overhead"):
            opts["mode"] = mode  # CUDA graphs are for the update's static buffers only
        self._act_fn = torch.compile(self.act_normalized, **opts)

    def _compiled_step(self, phase: str) -> Callable[..., dict[str, Tensor]] | None:
        if phase in self.eager_phases or self._compile is None:
            return None
        fn = self._compiled.get(phase)
        if fn is None:

            def run(batch: BatchLike) -> dict[str, Tensor]:
                return self.step(batch, phase)

            fn = self._compiled[phase] = torch.compile(run, **self._compile)
        return fn

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
    def policy_step(
        self,
        args: tuple[Tensor, ...],
        noise: NoiseFn | None = None,
        loss_fn: LossFn | None = None,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """One step of ``policy_opt`` on ``policy_loss(*args)`` (or ``loss_fn(*args)``) at this
        update's learning rate and ``cfg.grad_clip``, through the stepper; returns the loss
        and metrics."""
        if loss_fn is None:
            loss_fn = getattr(self, "policy_loss")  # noqa: B009 (declared by subclasses)
        opt: torch.optim.Optimizer = getattr(self, "policy_opt")  # noqa: B009
        lr, clip = self.lr(), self.cfg.grad_clip
        return self.stepper.step(opt, loss_fn, args, lr=lr, grad_clip=clip, noise=noise)

    def set_stepper(self, stepper: Stepper) -> None:
        """Run every optimiser step, the critic's included, through ``stepper``."""
        self.stepper = stepper
        if self.critic is not None:
            self.critic.stepper = stepper

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
        if self.policy_ema is not None:  # load_state_dict, in a form torch.compile traces
            ema, policy = self.policy_ema, self.policy
            dst = [*ema.parameters(), *ema.buffers()]
            torch._foreach_copy_(dst, [*policy.parameters(), *policy.buffers()])

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

    def pretrain_step(self, obs: Tensor, act: Tensor) -> dict[str, Tensor]:
        """One matching step of ``self.behaviour`` at this update's ``lr()`` (in the
        "pretrain" phase: ``behaviour_lr`` on ``cfg``'s schedule over the pretraining);
        returns ``behaviour/loss``."""
        loss = self.behaviour.loss(act, obs).mean()
        optimizer_step(self.behaviour_opt, loss, lr=self.lr())
        return {"behaviour/loss": loss.detach()}

    def pretrain_phase(self) -> str:
        """ "pretrain" during ``cfg.pretrain_updates``, then "policy" (GMPG, QGPO, SRPO)."""
        return "pretrain" if self.pretraining else "policy"

    def pretrain_phase_lr(self, phase: str, behaviour_lr: float) -> float:
        """``behaviour_lr`` scheduled over the pretraining, then ``cfg.lr`` over the rest."""
        end = self.cfg.pretrain_updates
        if phase == "pretrain":
            return self.scheduled_lr(behaviour_lr, end=end)
        return self.scheduled_lr(start=end)

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
        act_fn = self._act_fn or self.act_normalized
        a = act_fn((x - self.obs_shift) / self.obs_scale, act_cfg).clamp_(-1.0, 1.0)
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
