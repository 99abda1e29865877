"""Metric sinks for a run directory: ``metrics.jsonl`` (every row), ``metrics.csv`` (wide,
header grows when new keys appear), when ``tensorboard`` is installed TensorBoard events
under ``tb/``, and with ``train.wandb`` a Weights & Biases run. On resume, rows past the
checkpoint's step are dropped; the W&B run of a run folder keeps its id across resumes."""

from __future__ import annotations

import csv
import json
import math
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genpolicy.errors import GenpolicyError, missing_extra

WANDB_ID_FILE = "wandb_id.txt"  # the run folder's W&B run id, so a resume continues that run


def parse_row(line: str) -> dict[str, Any] | None:
    """One ``metrics.jsonl`` line as a row (a JSON object with an integer ``step``), or None
    for a line cut short by a kill or anything else that is no row."""
    try:
        row = json.loads(line)
        row["step"] = int(row["step"])
    except (ValueError, TypeError, KeyError, IndexError):
        return None
    return row if isinstance(row, dict) else None


def read_rows(path: Path) -> tuple[list[dict[str, Any]], list[int]]:
    """The rows of a ``metrics.jsonl`` file in order, and the numbers (from 1) of its lines
    that are no row; blank lines are neither. Raises OSError when the file cannot be read."""
    rows: list[dict[str, Any]] = []
    bad: list[int] = []
    for i, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if line.strip():
            row = parse_row(line)
            if row is None:
                bad.append(i)
            else:
                rows.append(row)
    return rows, bad


@dataclass
class WandbSettings:
    project: str = "genpolicy"
    mode: str = "online"  # online | offline | disabled
    name: str = ""  # the W&B run's display name (default: the run folder's name)
    config: dict[str, Any] | None = None  # the resolved run config, shown in the W&B UI


class MetricsLogger:
    def __init__(
        self,
        run_dir: Path,
        tensorboard: bool = True,
        resume_step: int | None = None,
        wandb: WandbSettings | None = None,
    ):
        self.run_dir = run_dir
        self.jsonl = run_dir / "metrics.jsonl"
        self.csv = run_dir / "metrics.csv"
        self.rows: list[dict[str, Any]] = []
        if resume_step is not None and self.jsonl.exists():
            # a line cut short by a kill lies past the checkpoint: dropped with the rest
            rows, _ = read_rows(self.jsonl)
            self.rows = [row for row in rows if row["step"] <= resume_step]
        self.columns: list[str] = []
        for row in self.rows:
            self._grow(row)
        self._rewrite()
        self.tb: Any = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is an optional extra
                warnings.warn(
                    "tensorboard is not installed; metrics go to CSV/JSONL only "
                    "(pip install 'genpolicy[logging]')",
                    stacklevel=2,
                )
            else:
                self.tb = SummaryWriter(str(run_dir / "tb"), purge_step=resume_step)
        self.wandb: Any = None if wandb is None else _start_wandb(run_dir, wandb)

    def _grow(self, row: dict[str, Any]) -> bool:
        new = [k for k in row if k not in self.columns]
        self.columns.extend(new)
        return bool(new)

    def _rewrite(self) -> None:
        with self.jsonl.open("w") as f:
            for row in self.rows:
                f.write(json.dumps(row) + "\n")
        with self.csv.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.columns)
            w.writeheader()
            w.writerows(self.rows)

    def log(self, row: dict[str, Any]) -> None:
        """Append one row (must contain ``step``); numbers only besides ``step``/``kind``."""
        self.rows.append(row)
        if self._grow(row):
            self._rewrite()
        else:
            with self.jsonl.open("a") as f:
                f.write(json.dumps(row) + "\n")
            with self.csv.open("a", newline="") as f:
                csv.DictWriter(f, fieldnames=self.columns).writerow(row)
        if self.tb is None and self.wandb is None:
            return
        step = int(row["step"])
        scalars = {
            k: v
            for k, v in row.items()
            if k not in ("step", "kind") and isinstance(v, (int, float)) and math.isfinite(v)
        }
        if self.tb is not None:
            for k, v in scalars.items():
                self.tb.add_scalar(k, v, step)
        if self.wandb is not None and scalars:
            self.wandb.log(scalars, step=step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
            self.tb = None
        if self.wandb is not None:
            self.wandb.finish()
            self.wandb = None


def _start_wandb(run_dir: Path, s: WandbSettings) -> Any:
    """A W&B run for ``run_dir``: a new id on the first start, the saved one on a resume
    (``resume="allow"``), files under ``run_dir/wandb``."""
    try:
        import wandb
    except ImportError:
        raise missing_extra("wandb", "logging") from None
    id_file = run_dir / WANDB_ID_FILE
    run_id = id_file.read_text().strip() if id_file.is_file() else uuid.uuid4().hex[:16]
    id_file.write_text(run_id + "\n")
    try:
        return wandb.init(
            project=s.project,
            name=s.name or run_dir.name,
            id=run_id,
            resume="allow",
            mode=s.mode,  # type: ignore[arg-type]
            dir=str(run_dir),
            config=s.config,
            settings=wandb.Settings(silent=True),
        )
    except Exception as exc:  # noqa: BLE001 - wandb raises many kinds; one line for the user
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GenpolicyError(
            f"Weights & Biases could not start ({first}); set train.wandb_mode=offline to "
            "log without a network, or train.wandb=false"
        ) from None
