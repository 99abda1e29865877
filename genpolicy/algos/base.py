"""What every algorithm shares: observation normalisation, acting, training state.

An algorithm is an ``nn.Module`` holding its networks and optimisers. The training loop
only calls ``update(batch) -> dict[str, Tensor]`` (scalars, not synchronised with
``.item()``), ``act(obs)`` and ``training_state()`` / ``load_training_state()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np
import torch
from torch import Tensor, nn

from genpolicy.errors import GenpolicyError


class BatchLike(Protocol):
    observations: Tensor
    actions: Tensor
    rewards: Tensor
    next_observations: Tensor
    terminals: Tensor


@dataclass
class ActConfig:
    """How a generative policy picks an action at evaluation time."""

    steps: int | None = None  # None: the model's own default (model.steps)
    solver: str | None = None  # None: model.solver (flow maps always jump)
    candidates: int = 1  # 1: one sample; N > 1: N samples ranked by the critic's Q


class Algorithm(nn.Module):
    """Base class; subclasses set ``name``, build networks and implement the two hooks."""

    name: ClassVar[str] = ""
    obs_shift: Tensor
    obs_scale: Tensor

    def __init__(self, obs_dim: int, act_dim: int, batch_size: int, device: str) -> None:
        super().__init__()
        self.obs_dim = obs_dim
        self.act_dim = act_dim
        self.batch_size = batch_size
        self.device = torch.device(device)
        self.num_updates = 0
        # raw observation -> (obs - shift) / scale, copied from the dataset's normaliser
        self.register_buffer("obs_shift", torch.zeros(obs_dim))
        self.register_buffer("obs_scale", torch.ones(obs_dim))
        self.act_generator = torch.Generator(device=self.device)

    # ---- hooks for subclasses -------------------------------------------------------
    def update(self, batch: BatchLike) -> dict[str, Tensor]:
        raise NotImplementedError

    def act_normalized(self, obs: Tensor) -> Tensor:
        """Actions (B, act_dim) in [-1, 1] for already-normalised observations (B, obs_dim)."""
        raise NotImplementedError

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    # ---- shared -------------------------------------------------------------------------
    def set_obs_normalizer(self, shift: Tensor, scale: Tensor) -> None:
        self.obs_shift.copy_(shift.to(self.obs_shift))
        self.obs_scale.copy_(scale.to(self.obs_scale))

    def seed_acting(self, seed: int) -> None:
        """Seed the generator used by ``act`` (evaluation never touches the global RNG)."""
        self.act_generator.manual_seed(seed)

    @torch.inference_mode()
    def act(self, obs: np.ndarray) -> np.ndarray:
        """Actions for raw observations, (obs_dim,) or (B, obs_dim); float32, in [-1, 1]."""
        x = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
        single = x.dim() == 1
        if single:
            x = x.unsqueeze(0)
        if x.shape[-1] != self.obs_dim:
            raise GenpolicyError(
                f"observation has {x.shape[-1]} features but the policy expects {self.obs_dim}"
            )
        a = self.act_normalized((x - self.obs_shift) / self.obs_scale).clamp_(-1.0, 1.0)
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


def generative_act(
    model: Any,
    obs: Tensor,
    cfg: ActConfig,
    generator: torch.Generator | None,
    q_fn: Any = None,
) -> Tensor:
    """One sample per state, or ``cfg.candidates`` samples ranked by ``q_fn(obs, act)``."""
    if cfg.candidates <= 1 or q_fn is None:
        return model.sample(obs, steps=cfg.steps, solver=cfg.solver, generator=generator)
    b, n = obs.shape[0], cfg.candidates
    rep = obs.repeat_interleave(n, dim=0)
    acts = model.sample(rep, steps=cfg.steps, solver=cfg.solver, generator=generator)
    acts = acts.clamp(-1.0, 1.0)
    best = q_fn(rep, acts).view(b, n).argmax(dim=1)
    return acts.view(b, n, -1)[torch.arange(b, device=obs.device), best]


def check_act_config(cfg: ActConfig, has_critic: bool) -> None:
    if cfg.steps is not None and cfg.steps < 1:
        raise GenpolicyError(f"act.steps must be >= 1, got {cfg.steps}")
    if cfg.candidates < 1:
        raise GenpolicyError(f"act.candidates must be >= 1, got {cfg.candidates}")
    if cfg.candidates > 1 and not has_critic:
        raise GenpolicyError(
            "act.candidates > 1 ranks samples by Q, but this algorithm has no critic; "
            "set act.candidates=1"
        )
