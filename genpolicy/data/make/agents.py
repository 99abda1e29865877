"""Behaviour policies that ``genpolicy dataset make`` rolls out.

- ``random``: uniform actions in the action space;
- a Stable-Baselines3 SAC/TQC zip: its actor is read from the zip's ``policy.pth`` (a plain
  torch state dict), so stable-baselines3 is not needed and noise comes from a seeded
  ``torch.Generator`` (deterministic on any machine);
- a ``.pt`` actor state dict (``latent_pi.*``, ``mu.*``, ``log_std.*``): the committed
  medium-policy weights under ``genpolicy/data/make/assets``;
- genpolicy checkpoints: not supported yet; a loader can be added to ``POLICY_LOADERS``.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import Tensor, nn

from genpolicy.errors import GenpolicyError

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0
ASSETS = Path(__file__).resolve().parent / "assets"


class BehaviourPolicy(Protocol):
    description: str

    def __call__(self, obs: np.ndarray, deterministic: bool) -> np.ndarray:
        """Action (act_dim,) for one observation (obs_dim,), inside the action space."""
        ...


class RandomPolicy:
    """Uniform random actions, from a seeded numpy generator."""

    def __init__(self, low: np.ndarray, high: np.ndarray, seed: int) -> None:
        self.low, self.high = np.asarray(low, np.float64), np.asarray(high, np.float64)
        self.rng = np.random.default_rng(seed)
        self.description = "random"

    def __call__(self, obs: np.ndarray, deterministic: bool) -> np.ndarray:
        return self.rng.uniform(self.low, self.high).astype(np.float32)


class SquashedGaussianActor(nn.Module):
    """The SB3 SAC/TQC ``MlpPolicy`` actor: ReLU MLP, ``mu`` and ``log_std`` heads, tanh."""

    def __init__(self, state_dict: dict[str, Tensor], source: str) -> None:
        super().__init__()
        layer_ids = sorted({int(k.split(".")[1]) for k in state_dict if k.startswith("latent_pi.")})
        for key in ("mu.weight", "mu.bias", "log_std.weight", "log_std.bias"):
            if key not in state_dict:
                raise GenpolicyError(
                    f"{source}: missing key {key!r}; expected an SB3 SAC/TQC actor state dict "
                    "(latent_pi.*, mu.*, log_std.*)"
                )
        layers: list[nn.Module] = []
        for i in layer_ids:
            w = state_dict[f"latent_pi.{i}.weight"]
            layers += [nn.Linear(w.shape[1], w.shape[0]), nn.ReLU()]
        self.latent_pi = nn.Sequential(*layers)
        out, hidden = state_dict["mu.weight"].shape
        self.mu = nn.Linear(hidden, out)
        self.log_std = nn.Linear(hidden, out)
        # Sequential indices differ from SB3's (Linear at 0, 2, ...): rename
        renamed = {}
        for j, i in enumerate(layer_ids):
            for p in ("weight", "bias"):
                renamed[f"latent_pi.{2 * j}.{p}"] = state_dict[f"latent_pi.{i}.{p}"]
        for k, v in state_dict.items():
            if k.startswith(("mu.", "log_std.")):
                renamed[k] = v
        self.load_state_dict({k: v.float() for k, v in renamed.items()})
        first = state_dict[f"latent_pi.{layer_ids[0]}.weight"] if layer_ids else None
        self.obs_dim = int(first.shape[1]) if first is not None else int(hidden)
        self.act_dim = int(out)

    def forward(
        self, obs: Tensor, deterministic: bool, generator: torch.Generator | None = None
    ) -> Tensor:
        h = self.latent_pi(obs)
        mean = self.mu(h)
        if deterministic:
            return torch.tanh(mean)
        std = self.log_std(h).clamp(LOG_STD_MIN, LOG_STD_MAX).exp()
        eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype)
        return torch.tanh(mean + std * eps)


class ActorPolicy:
    """An SB3-style actor acting in an environment with bounds ``[low, high]``."""

    def __init__(
        self,
        actor: SquashedGaussianActor,
        low: np.ndarray,
        high: np.ndarray,
        seed: int,
        description: str,
    ) -> None:
        self.actor = actor.eval()
        self.low = torch.as_tensor(low, dtype=torch.float32)
        self.high = torch.as_tensor(high, dtype=torch.float32)
        self.generator = torch.Generator().manual_seed(seed)
        self.description = description

    def __call__(self, obs: np.ndarray, deterministic: bool) -> np.ndarray:
        with torch.inference_mode():
            x = torch.as_tensor(obs, dtype=torch.float32).reshape(1, -1)
            a = self.actor(x, deterministic, self.generator)[0]
            a = self.low + 0.5 * (a + 1.0) * (self.high - self.low)
        return a.numpy()


def read_sb3_zip(path: str | Path) -> tuple[dict[str, Tensor], str]:
    """The actor state dict and algorithm name ("SAC"/"TQC") of an SB3 zip."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as z:
            data = json.loads(z.read("data")) if "data" in z.namelist() else {}
            raw = z.read("policy.pth")
    except (OSError, zipfile.BadZipFile, KeyError) as exc:
        raise GenpolicyError(
            f"{path}: not a Stable-Baselines3 zip with policy.pth ({exc}); save it with "
            "model.save()"
        ) from None
    cls = str(data.get("policy_class", {}).get("__module__", ""))
    algo = "TQC" if "tqc" in cls else "SAC" if "sac" in cls else ""
    if not algo:
        raise GenpolicyError(
            f"{path}: policy class {cls or 'unknown'!r} is not SAC or TQC; only SB3 SAC/TQC "
            "agents can be rolled out"
        )
    if data.get("policy_kwargs", {}).get("use_sde") or data.get("use_sde"):
        raise GenpolicyError(f"{path}: agents trained with gSDE (use_sde) are not supported")
    sd = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    actor = {k[len("actor.") :]: v for k, v in sd.items() if k.startswith("actor.")}
    return actor, algo


def read_actor_pt(path: str | Path) -> dict[str, Tensor]:
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several kinds for bad files
        raise GenpolicyError(f"{path}: cannot load as a torch state dict ({exc})") from None
    if not isinstance(sd, dict):
        raise GenpolicyError(f"{path}: expected a state dict, found {type(sd).__name__}")
    return sd


# A loader gets (spec, obs_dim, act_low, act_high, seed) and returns a policy, or None if the
# spec is not its kind. The checkpoint module can register one here.
PolicyLoader = Callable[[str, int, np.ndarray, np.ndarray, int], BehaviourPolicy | None]
POLICY_LOADERS: list[PolicyLoader] = []


def load_algorithm(
    spec: str, *, obs_dim: int, act_low: np.ndarray, act_high: np.ndarray, seed: int
) -> BehaviourPolicy:
    """The behaviour policy named by ``spec`` (``random``, an SB3 zip, an actor ``.pt``)."""
    if spec == "random":
        return RandomPolicy(act_low, act_high, seed)
    for loader in POLICY_LOADERS:
        pol = loader(spec, obs_dim, act_low, act_high, seed)
        if pol is not None:
            return pol
    path = Path(spec).expanduser()
    if not path.exists():
        raise GenpolicyError(
            f"policy {spec!r}: no such file; use 'random', an SB3 SAC/TQC .zip, or an actor .pt"
        )
    if path.suffix == ".zip":
        sd, algo = read_sb3_zip(path)
        desc = f"{algo} {path.name}"
    elif path.suffix == ".pt" and "mu.weight" in (sd := read_actor_pt(path)):
        desc = f"SAC actor {path.name}"
    else:
        raise GenpolicyError(
            f"policy {spec!r}: genpolicy checkpoints cannot be rolled out yet (not supported "
            "yet); use 'random', an SB3 SAC/TQC .zip, or an actor .pt"
        )
    actor = SquashedGaussianActor(sd, str(path))
    if actor.obs_dim != obs_dim or actor.act_dim != len(act_low):
        raise GenpolicyError(
            f"{path}: the actor maps {actor.obs_dim} observations to {actor.act_dim} actions but "
            f"the environment has {obs_dim} and {len(act_low)}; pick the matching --env"
        )
    return ActorPolicy(actor, act_low, act_high, seed, desc)
