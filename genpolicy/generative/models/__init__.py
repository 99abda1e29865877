"""Generative models: diffusion (noise), flow (velocity) and flow map (solution map).

Algorithms never test a model's kind: they name the capabilities they need (keys of
``CAPABILITIES``, declared by each model class) and ``require_capabilities`` checks them,
in config validation and when an algorithm is built.
"""

from __future__ import annotations

from collections.abc import Iterable

from genpolicy.errors import GenpolicyError, unknown_name
from genpolicy.generative.models.base import CAPABILITIES, MODEL_KINDS, GenerativeModel, ModelConfig
from genpolicy.generative.models.flowmap import FlowMap
from genpolicy.generative.models.ode import Diffusion, Flow, ODEModel

MODELS: dict[str, type[GenerativeModel]] = {
    "diffusion": Diffusion,
    "flow": Flow,
    "flowmap": FlowMap,
}


def model_class(kind: str) -> type[GenerativeModel]:
    """The model class that ``model.kind`` names."""
    if kind not in MODELS:
        raise unknown_name("model kind", kind, MODELS)
    return MODELS[kind]


def build_model(cfg: ModelConfig, action_dim: int, state_dim: int) -> GenerativeModel:
    """Build the generative model that ``cfg.kind`` names."""
    return model_class(cfg.kind)(cfg, action_dim, state_dim)


def kinds_with(*capabilities: str) -> list[str]:
    """The model kinds that offer every one of ``capabilities``."""
    return [k for k, cls in MODELS.items() if set(capabilities) <= cls.capabilities]


def has_capability(model: ModelConfig | GenerativeModel | str, capability: str) -> bool:
    """Whether a model (a config, an instance or a kind name) offers ``capability``."""
    return capability in _class_of(model).capabilities


def require_capabilities(
    model: ModelConfig | GenerativeModel | str, needs: Iterable[str], algo: str
) -> None:
    """Raise a one-line ``GenpolicyError`` if the model lacks one of ``needs``, naming the
    algorithm, the model kind and the kinds that would work."""
    needs = tuple(needs)
    if not needs:
        return
    cls = _class_of(model)
    for cap in needs:
        if cap not in CAPABILITIES:
            raise unknown_name(f"capability required by {algo}", cap, CAPABILITIES)
        if cap not in cls.capabilities:
            fits = kinds_with(*needs)
            fix = (
                f"set model.kind={' or '.join(fits)}"
                if fits
                else "no model kind offers all of them"
            )
            raise GenpolicyError(
                f"{algo.upper()} needs {CAPABILITIES[cap]}, which model.kind={cls.kind!r} "
                f"does not offer: {fix}"
            )


def _class_of(model: ModelConfig | GenerativeModel | str) -> type[GenerativeModel]:
    if isinstance(model, GenerativeModel):
        return type(model)
    return model_class(model.kind if isinstance(model, ModelConfig) else model)


__all__ = [
    "CAPABILITIES",
    "MODELS",
    "MODEL_KINDS",
    "Diffusion",
    "Flow",
    "FlowMap",
    "GenerativeModel",
    "ModelConfig",
    "ODEModel",
    "build_model",
    "has_capability",
    "kinds_with",
    "model_class",
    "require_capabilities",
]
