"""What a run folder holds and whether it can be written: the checks and reads the trainer
makes before and after training, and its one-line warnings."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from genpolicy.errors import GenpolicyError
from genpolicy.training.logger import read_rows


def warn(message: str) -> None:
    """A one-line warning on stderr (no source line, unlike ``warnings.warn``)."""
    print(f"genpolicy: warning: {message}", file=sys.stderr, flush=True)


def write_error(folder: Path, exc: OSError, note: str = "") -> GenpolicyError:
    where = exc.filename or folder
    extra = f"; {note}" if note else ""
    return GenpolicyError(
        f"cannot write {where} ({exc.strerror or exc}){extra}; make {folder} writable "
        "(then --resume) or set train.out_dir to a folder you can write"
    )


def check_writable(folder: Path, what: str) -> None:
    """Raise ``GenpolicyError`` unless a file can be created in ``folder``."""
    import tempfile

    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise GenpolicyError(
            f"{what} cannot write in {folder} ({exc.strerror or exc}); make it writable, or "
            "copy the run folder somewhere writable and point train.out_dir there"
        ) from None


def final_summary(run_dir: Path, step: int) -> bool:
    """Whether ``summary.json`` reports a run that ended (not interrupted) at ``step``."""
    try:
        s = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(s, dict) and not s.get("interrupted") and int(s.get("steps", -1)) == step


def saved_speed(run_dir: Path) -> float:
    """The last ``steps_per_s`` logged in ``metrics.jsonl`` (0.0 if none)."""
    try:
        rows, _ = read_rows(run_dir / "metrics.jsonl")
    except OSError:
        return 0.0
    for row in reversed(rows):
        if "steps_per_s" in row:
            return float(row["steps_per_s"])
    return 0.0


def same_normalizer(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two ``normalizer_state`` dicts (observation and reward transforms) agree."""
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        if isinstance(x, (int, float, list)) and isinstance(y, (int, float, list)):
            if np.shape(x) != np.shape(y) or not np.allclose(x, y, rtol=1e-5, atol=1e-6):
                return False
        elif x != y:
            return False
    return True


def check_same_file(
    ckpt: dict[str, Any], fingerprint: str, dataset: str, where: str, fix: str
) -> None:
    """Refuse a checkpoint trained on other transitions than the run's dataset (a file
    remade since, or another file of the same name)."""
    saved = ckpt.get("dataset_fingerprint")
    if saved is not None and saved != fingerprint:
        raise GenpolicyError(
            f"{where} it was trained on a dataset with fingerprint {saved}, "
            f"{dataset!r} has {fingerprint} (other transitions: a "
            "remade or replaced file); point data.dataset at the file it was trained on "
            f"(`genpolicy dataset info FILE` prints the fingerprint) or {fix}"
        )


def check_branch_source(
    ckpt: dict[str, Any], cfg: Any, dataset: Any, fingerprint: str, where: str
) -> None:
    """Refuse a ``train.init_from`` checkpoint that does not fit the run: another algorithm,
    other observation/action sizes, other transitions or other normalisation statistics."""
    saved_algo = ckpt["config"].get("algo", {}).get("name")
    if saved_algo != cfg.algo.name:
        raise GenpolicyError(
            f"{where} is a {saved_algo!r} checkpoint, this run trains "
            f"{cfg.algo.name!r}; point it at a checkpoint of the same algorithm"
        )
    dims = {"obs": dataset.obs_dim, "act": dataset.act_dim}
    saved_dims = {k: int(v) for k, v in ckpt["dims"].items()}
    if saved_dims != dims:
        raise GenpolicyError(
            f"{where} has observation/action sizes {saved_dims}, the dataset {dims}; "
            "start from a checkpoint trained on this task"
        )
    check_same_file(
        ckpt, fingerprint, cfg.data.dataset, f"{where}:", "start from a checkpoint of this file"
    )
    if not same_normalizer(dataset.normalizer_state(), ckpt.get("normalizer", {})):
        raise GenpolicyError(
            f"{where} was trained with other observation or reward statistics (another "
            "dataset, data.normalize_obs or reward convention); start from a checkpoint of "
            "this dataset"
        )
