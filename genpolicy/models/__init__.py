"""Generative models: diffusion (noise), flow (velocity) and flow map (solution map)."""

from __future__ import annotations

from genpolicy.errors import unknown_name
from genpolicy.models.base import MODEL_KINDS, GenerativeModel, ModelConfig
from genpolicy.models.flowmap import FlowMap
from genpolicy.models.ode import Diffusion, Flow, ODEModel

MODELS: dict[str, type[GenerativeModel]] = {
    "diffusion": Diffusion,
    "flow": Flow,
    "flowmap": FlowMap,
}


def build_model(cfg: ModelConfig, action_dim: int, state_dim: int) -> GenerativeModel:
    """Build the generative model that ``cfg.kind`` names."""
    if cfg.kind not in MODELS:
        raise unknown_name("model kind", cfg.kind, MODELS)
    return MODELS[cfg.kind](cfg, action_dim, state_dim)


__all__ = [
    "MODEL_KINDS",
    "Diffusion",
    "Flow",
    "FlowMap",
    "GenerativeModel",
    "ModelConfig",
    "ODEModel",
    "build_model",
]
