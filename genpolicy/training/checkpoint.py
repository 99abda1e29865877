"""Checkpoints: state dicts + resolved config + library version + optimisers + RNG + step.

A checkpoint ``<dir>/<name>`` (the trainer writes ``checkpoints/last`` and
``checkpoints/best``) is two files, no pickles:

* ``<name>.safetensors``: every tensor (weights, EMA weights, optimiser moments and steps,
  observation normaliser buffers, torch/numpy generator states);
* ``<name>.json``: everything else (format tag, library version, config, step, progress,
  normaliser, the non-tensor parts of the optimiser states such as param groups, Python's
  and numpy's RNG states), with ``{"__tensor__": key}`` where a tensor was. Tuples, dicts
  with non-string keys and state-dict metadata are tagged so that they load back exactly.

Writes are atomic: both files are written in full as ``*.tmp``, then the tensors file is
renamed into place and the JSON last. The JSON names a random ``checkpoint_id`` that the
tensors file's header repeats; a pair whose ids differ (a writer killed between the two
renames) is finished from the complete ``<name>.json.tmp`` or refused, never mixed.

``load`` takes a run directory (its ``checkpoints/last``), a checkpoints directory, the
``.json`` or ``.safetensors`` file, the name without suffix, or an old ``.pt`` path
(format ``genpolicy-checkpoint-1``, ``torch.save`` with ``weights_only``-safe contents),
which still loads; a new checkpoint beside an old ``.pt`` of the same name wins.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import sys
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genpolicy.errors import GenpolicyError

FORMAT = "genpolicy-checkpoint-2"
TENSORS_SUFFIX = ".safetensors"
JSON_SUFFIX = ".json"
_SUFFIXES = (TENSORS_SUFFIX, JSON_SUFFIX)

# tags of the JSON encoding (a dict holding exactly one of these keys is a tagged value)
_TENSOR, _TUPLE, _ITEMS, _STATE_DICT, _META = (
    "__tensor__",
    "__tuple__",
    "__items__",
    "__state_dict__",
    "__metadata__",
)
_TAGS = {_TENSOR, _TUPLE, _ITEMS, _STATE_DICT, _META}


# ---------------------------------------------------------------------- RNG
def rng_state(batch_generator: torch.Generator | None = None) -> dict[str, Any]:
    """Every random state the training loop draws from."""
    np_state: Any = np.random.get_state()
    kind, keys, pos, has_gauss, gauss = np_state
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if batch_generator is not None:
        state["batch"] = batch_generator.get_state()
    return state


def set_rng_state(state: dict[str, Any], batch_generator: torch.Generator | None = None) -> None:
    torch.set_rng_state(state["torch"].cpu())
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    keys = keys.cpu().numpy() if isinstance(keys, torch.Tensor) else np.asarray(keys)
    np.random.set_state((kind, keys.astype(np.uint32), int(pos), int(has_gauss), float(gauss)))
    random.setstate(_tuplify(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    if batch_generator is not None and "batch" in state:
        saved = state["batch"].cpu()
        if saved.numel() == batch_generator.get_state().numel():
            batch_generator.set_state(saved)
        else:  # saved by a generator on another kind of device (CUDA's Philox, CPU's MT)
            seed = int.from_bytes(hashlib.sha256(saved.numpy().tobytes()).digest()[:8], "little")
            batch_generator.manual_seed(seed)
            print(
                "note: the checkpoint was trained on another kind of device; batches from "
                "here on are drawn from a seed derived from its sampler state",
                file=sys.stderr,
            )


def _tuplify(x: Any) -> Any:
    return tuple(_tuplify(v) for v in x) if isinstance(x, (list, tuple)) else x


# ---------------------------------------------------------------------- locating files
def _stem(path: Path) -> Path:
    """``dir/name`` of a checkpoint given ``dir/name`` or ``dir/name.{json,safetensors}``."""
    return path.with_suffix("") if path.suffix in _SUFFIXES else path


def _files(stem: Path) -> tuple[Path, Path]:
    """(tensors, json) paths of checkpoint ``stem``."""
    return stem.with_name(stem.name + TENSORS_SUFFIX), stem.with_name(stem.name + JSON_SUFFIX)


def _checkpoint_dir(path: Path) -> Path:
    """A run directory's ``checkpoints/``; any other directory is taken as one."""
    return path / "checkpoints" if (path / "checkpoints").is_dir() else path


def exists(run_dir_or_ckpt_dir: str | Path, name: str = "last") -> bool:
    """Whether checkpoint ``name`` is in a run directory (under ``checkpoints/``) or in a
    checkpoints directory."""
    tensors, meta = _files(_checkpoint_dir(Path(run_dir_or_ckpt_dir)) / name)
    return meta.is_file() and tensors.is_file()


def names(ckpt_dir: str | Path) -> list[str]:
    """The complete checkpoints (both files) in ``ckpt_dir``: ``step<N>`` in order of N
    first, then the others (``best``, ``last``) by name."""
    folder = Path(ckpt_dir)
    if not folder.is_dir():
        return []
    found = [p.name[: -len(JSON_SUFFIX)] for p in folder.glob(f"*{JSON_SUFFIX}")]
    found = [n for n in found if exists(folder, n)]
    steps = sorted((n for n in found if is_step(n)), key=lambda n: int(n[4:]))
    return steps + sorted(n for n in found if n not in steps)


def is_step(name: str) -> bool:
    """Whether checkpoint ``name`` is a ``step<N>`` one (``train.checkpoint_at``)."""
    return name.startswith("step") and name[4:].isdigit()


def _resolve(path: Path) -> Path:
    """The checkpoint stem for what ``load`` was given."""
    stem = _checkpoint_dir(path) / "last" if path.is_dir() else _stem(path)
    tensors, meta = _files(stem)
    if meta.is_file() or tensors.is_file():
        return stem
    if path.is_file():
        raise _unreadable(path)
    raise GenpolicyError(
        f"no checkpoint at {path}; pass a run directory or a checkpoint .json/.safetensors file"
    )


# ---------------------------------------------------------------------- encoding
def _encode(x: Any, key: str, tensors: dict[str, torch.Tensor]) -> Any:
    """JSON-able form of ``x``; its tensors go to ``tensors`` under path-like keys."""
    if isinstance(x, torch.Tensor):
        name = key or "tensor"
        while name in tensors:
            name += "'"
        # a private contiguous CPU copy: safetensors refuses views and shared storage
        tensors[name] = x.detach().to("cpu", memory_format=torch.contiguous_format, copy=True)
        return {_TENSOR: name}
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, tuple):
        return {_TUPLE: [_encode(v, f"{key}/{i}", tensors) for i, v in enumerate(x)]}
    if isinstance(x, list):
        return [_encode(v, f"{key}/{i}", tensors) for i, v in enumerate(x)]
    if isinstance(x, dict):
        if all(isinstance(k, str) for k in x) and not set(x) & _TAGS:
            out: Any = {k: _encode(v, f"{key}/{k}" if key else k, tensors) for k, v in x.items()}
        else:
            out = {
                _ITEMS: [
                    [_encode(k, "", {}), _encode(v, f"{key}/{k}", tensors)] for k, v in x.items()
                ]
            }
        meta = getattr(x, "_metadata", None)  # nn.Module.state_dict() carries versions
        if isinstance(meta, dict):
            out = {_STATE_DICT: out, _META: _encode(dict(meta), "", {})}
        return out
    raise TypeError(f"checkpoint: cannot store a {type(x).__name__} at {key!r}")


def _decode(x: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(x, list):
        return [_decode(v, tensors) for v in x]
    if not isinstance(x, dict):
        return x
    if len(x) == 1 and _TENSOR in x:
        return tensors[x[_TENSOR]]
    if len(x) == 1 and _TUPLE in x:
        return tuple(_decode(v, tensors) for v in x[_TUPLE])
    if len(x) == 1 and _ITEMS in x:
        return {_decode(k, tensors): _decode(v, tensors) for k, v in x[_ITEMS]}
    if set(x) == {_STATE_DICT, _META}:
        sd: Any = OrderedDict(_decode(x[_STATE_DICT], tensors))
        sd._metadata = _decode(x[_META], tensors)
        return sd
    return {k: _decode(v, tensors) for k, v in x.items()}


# ---------------------------------------------------------------------- versions
def _version_key(version: Any) -> tuple[int, int] | None:
    m = re.match(r"\s*(\d+)\.(\d+)", str(version))
    return (int(m.group(1)), int(m.group(2))) if m else None


def _check_version(path: Path, version: Any) -> None:
    """Refuse checkpoints written by a newer major/minor version of the library."""
    from genpolicy import __version__

    theirs, ours = _version_key(version), _version_key(__version__)
    if theirs is None:
        raise GenpolicyError(
            f"{path}: not a genpolicy checkpoint (no readable genpolicy version, got "
            f"{version!r}); pass a checkpoint written by genpolicy"
        )
    if ours is not None and theirs > ours:
        raise GenpolicyError(
            f"{path}: written by genpolicy {version}, newer than the installed genpolicy "
            f"{__version__}; upgrade genpolicy to {theirs[0]}.{theirs[1]} or later to load it"
        )


def _unreadable(path: Path) -> GenpolicyError:
    return GenpolicyError(
        f"{path}: not a readable genpolicy checkpoint (truncated, or not written by "
        "genpolicy); use another checkpoint or train again"
    )


# ---------------------------------------------------------------------- save / load
def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot; the rename order still holds
        pass
    finally:
        os.close(fd)


def save(path: str | Path, payload: dict[str, Any]) -> Path:
    """Atomically write checkpoint ``path`` (``dir/name``; a ``.json`` or ``.safetensors``
    suffix is dropped)
    as ``name.safetensors`` + ``name.json``, adding the format tag and library version;
    returns the JSON file's path."""
    from safetensors.torch import save_file

    from genpolicy import __version__

    stem = _stem(Path(path))
    stem.parent.mkdir(parents=True, exist_ok=True)
    tensors_path, json_path = _files(stem)
    tensors_tmp = tensors_path.with_name(tensors_path.name + ".tmp")
    json_tmp = json_path.with_name(json_path.name + ".tmp")

    state = {k: v for k, v in payload.items() if k not in ("format", "genpolicy_version")}
    tensors: dict[str, torch.Tensor] = {}
    encoded = _encode(state, "", tensors)
    checkpoint_id = uuid.uuid4().hex
    doc = {
        "format": FORMAT,
        "genpolicy_version": __version__,
        "checkpoint_id": checkpoint_id,
        "tensors": tensors_path.name,
        "state": encoded,
    }
    header = {"format": FORMAT, "checkpoint_id": checkpoint_id}
    save_file(tensors, str(tensors_tmp), metadata=header)
    _fsync(tensors_tmp)
    json_tmp.write_text(json.dumps(doc, indent=1))
    _fsync(json_tmp)
    os.chmod(tensors_tmp, json_tmp.stat().st_mode & 0o777)  # the umask's mode, as the JSON
    os.replace(tensors_tmp, tensors_path)
    os.replace(json_tmp, json_path)  # last: from here on the pair is complete
    try:
        _fsync(stem.parent)
    except OSError:
        pass
    return json_path


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        raise _unreadable(path) from None
    if not isinstance(doc, dict):
        raise _unreadable(path)
    return doc


def _check_doc(path: Path, doc: dict[str, Any]) -> None:
    if "genpolicy_version" in doc:
        _check_version(path, doc["genpolicy_version"])
    if doc.get("format") != FORMAT or not isinstance(doc.get("state"), dict):
        raise GenpolicyError(f"{path}: not a genpolicy checkpoint (format {FORMAT!r} expected)")


def _load_new(stem: Path, device: str) -> dict[str, Any]:
    from safetensors import safe_open

    tensors_path, json_path = _files(stem)
    if not json_path.is_file():
        raise GenpolicyError(
            f"{stem}: incomplete checkpoint ({json_path.name} missing beside "
            f"{tensors_path.name}; its writer was stopped); use another checkpoint"
        )
    doc = _read_json(json_path)
    _check_doc(json_path, doc)
    if not tensors_path.is_file():
        raise GenpolicyError(
            f"{json_path}: its tensors file {tensors_path.name} is missing; copy both files "
            "of a checkpoint"
        )
    try:
        with safe_open(str(tensors_path), framework="pt", device="cpu") as f:
            header = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception:  # noqa: BLE001 - any unreadable file is the same user error
        raise _unreadable(tensors_path) from None
    if header.get("checkpoint_id") != doc.get("checkpoint_id"):
        # the writer was stopped between its two renames: its JSON is complete in .tmp
        tmp = json_path.with_name(json_path.name + ".tmp")
        alt = _read_json(tmp) if tmp.is_file() else {}
        if alt.get("checkpoint_id") != header.get("checkpoint_id"):
            raise GenpolicyError(
                f"{json_path}: {tensors_path.name} belongs to another save of this checkpoint "
                "(an interrupted write); use another checkpoint"
            )
        _check_doc(tmp, alt)
        doc = alt
    if device != "cpu":
        tensors = {k: v.to(device) for k, v in tensors.items()}
    try:
        state = _decode(doc["state"], tensors)
    except (KeyError, TypeError, ValueError):
        raise _unreadable(json_path) from None
    return {"format": FORMAT, "genpolicy_version": doc.get("genpolicy_version"), **state}


def checkpoint_file(path: str | Path) -> Path:
    """The ``.json`` file of the checkpoint that ``load(path)`` reads."""
    return _files(_resolve(Path(path)))[1]


def load(path: str | Path, device: str = "cpu") -> dict[str, Any]:
    """The checkpoint dict at ``path``: a run directory (its ``checkpoints/last``), a
    checkpoints directory, or a checkpoint's ``.json``/``.safetensors`` file or name.
    Refuses checkpoints from a newer genpolicy (major.minor)."""
    return _load_new(_resolve(Path(path)), device)


def load_algorithm(path: str | Path, device: str = "cpu") -> tuple[Any, Any, dict[str, Any]]:
    """(algorithm ready to ``act``, its RunConfig, the checkpoint dict) from a checkpoint."""
    from genpolicy.rl.algos import build_algorithm
    from genpolicy.training.config import RunConfig
    from genpolicy.training.device import check_device

    check_device(device, "device")
    ckpt = load(path, device)
    cfg = RunConfig.from_dict(ckpt["config"], algorithm_default=False)  # complete when written
    dims = ckpt["dims"]
    algo = build_algorithm(
        cfg.algo, cfg.model, cfg.critic, int(dims["obs"]), int(dims["act"]), device
    )
    algo.load_training_state(ckpt["algo"])
    algo.eval()
    return algo, cfg, ckpt
