"""Make GenerativeRL importable next to the CPU build of torch; import this before ``grl``.

``import grl`` imports torchvision (``grl.neural_network.transformers.maxvit``, a network
that none of the adapters here build). The torchvision wheel on the package registry is a
CUDA build: next to the CPU build of torch its compiled operators do not load, and
``torchvision/_meta_registrations.py`` then fails at import time registering fake kernels
for them (``RuntimeError: operator torchvision::nms does not exist``). No GenerativeRL
model calls a torchvision operator, so the registration of torchvision's fake kernels is
skipped and every other ``torch.library.register_fake`` call goes through unchanged.
"""

from __future__ import annotations

from typing import Any

import torch

_register_fake = torch.library.register_fake


def _register_fake_except_torchvision(op: Any, fn: Any = None, /, **kwargs: Any) -> Any:
    if isinstance(op, str) and op.startswith("torchvision::"):
        return (lambda f: f) if fn is None else fn
    if fn is None:
        return _register_fake(op, **kwargs)
    return _register_fake(op, fn, **kwargs)


torch.library.register_fake = _register_fake_except_torchvision


def double_q(in_dim: int) -> dict[str, Any]:
    """The ``DoubleQNetwork`` section of GenerativeRL's critic configs: two ReLU MLPs of
    256 x 256 on the concatenated action and state (``in_dim``)."""
    mlp = {"hidden_sizes": [in_dim, 256, 256], "output_size": 1, "activation": "relu"}
    return {"backbone": {"type": "ConcatenateMLP", "args": mlp}}
