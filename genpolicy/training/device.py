"""Whether a torch device string names a device this machine has, checked before any work."""

from __future__ import annotations

import torch

from genpolicy.errors import GenpolicyError


def check_device(device: str, key: str = "train.device") -> None:
    """Raise ``GenpolicyError`` (naming ``key``) unless ``device`` parses and is present."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise GenpolicyError(
            f"{key}={device!r} is not a torch device; use cpu, cuda, cuda:N or mps"
        ) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise GenpolicyError(
                f"{key}={device!r}: this torch build or machine has no CUDA device; use cpu"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise GenpolicyError(
                f"{key}={device!r}: only {torch.cuda.device_count()} CUDA device(s) here; "
                "use cuda:0 .. cuda:N-1"
            )
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise GenpolicyError(f"{key}={device!r}: no MPS device on this machine; use cpu")
    elif dev.type != "cpu":
        raise GenpolicyError(f"{key}={device!r}: genpolicy trains on cpu, cuda or mps")
