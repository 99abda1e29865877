"""Metric sinks for a run directory: ``metrics.jsonl`` (every row), ``metrics.csv`` (wide,
header grows when new keys appear) and, when ``tensorboard`` is installed, TensorBoard
events under ``tb/``. On resume, rows past the checkpoint's step are dropped."""

from __future__ import annotations

import csv
import json
import math
import warnings
from pathlib import Path
from typing import Any


class MetricsLogger:
    def __init__(self, run_dir: Path, tensorboard: bool = True, resume_step: int | None = None):
        self.run_dir = run_dir
        self.jsonl = run_dir / "metrics.jsonl"
        self.csv = run_dir / "metrics.csv"
        self.rows: list[dict[str, Any]] = []
        if resume_step is not None and self.jsonl.exists():
            for line in self.jsonl.read_text().splitlines():
                if line.strip():
                    try:
                        row = json.loads(line)
                    except ValueError:  # a line cut short by a kill: past the checkpoint
                        continue
                    if int(row.get("step", 0)) <= resume_step:
                        self.rows.append(row)
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
        if self.tb is not None:
            step = int(row["step"])
            for k, v in row.items():
                if k not in ("step", "kind") and isinstance(v, (int, float)) and math.isfinite(v):
                    self.tb.add_scalar(k, v, step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
            self.tb = None
