"""Metric sinks: the Weights & Biases logger, offline (no network), across a resume."""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path

import pytest
from helpers import tiny

from genpolicy.errors import GenpolicyError
from genpolicy.training.config import create
from genpolicy.training.logger import WANDB_ID_FILE
from genpolicy.training.trainer import fit

pytest.importorskip("wandb")


def _records(path: Path) -> list[bytes]:
    """The records of a ``.wandb`` file: a 7-byte header, then LevelDB's log format (32 KiB
    blocks of records with a 7-byte header: crc32, length, type full/first/middle/last)."""
    data, pos, block, out, buf = path.read_bytes(), 7, 32768, [], b""
    assert data[:4] == b":W&B"
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind == 1:
            out.append(chunk)
        elif kind in (2, 3):
            buf = (b"" if kind == 2 else buf) + chunk
        elif kind == 4:
            out.append(buf + chunk)
    return out


def _wandb_rows(run_dir: Path) -> list[dict[str, float]]:
    """The history rows an offline W&B run wrote, read back from its .wandb files."""
    from wandb.proto import wandb_internal_pb2

    rows: list[dict[str, float]] = []
    for path in sorted((run_dir / "wandb").glob("offline-run-*/run-*.wandb")):
        for data in _records(path):
            # the generated module picks its message classes by protobuf version at import
            rec = wandb_internal_pb2.Record()  # type: ignore[attr-defined]
            rec.ParseFromString(data)
            if rec.WhichOneof("record_type") == "history":
                rows.append(
                    {
                        i.key or "/".join(i.nested_key): json.loads(i.value_json)
                        for i in rec.history.item
                    }
                )
    return rows


@pytest.mark.slow
def test_wandb_offline_logs_every_row_and_keeps_its_run_across_a_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WANDB_SILENT", "true")
    over = {"train.wandb": True, "train.wandb_mode": "offline", "train.eval_every": 4}
    cfg = tiny("gmpo", tmp_path, **over)
    part = fit(cfg, on_step=lambda step, trainer: step == 6)
    assert part.interrupted
    run_id = (part.run_dir / WANDB_ID_FILE).read_text().strip()
    res = fit(cfg, resume=True)
    assert (res.run_dir / WANDB_ID_FILE).read_text().strip() == run_id
    offline = sorted((res.run_dir / "wandb").glob("offline-run-*"))
    assert offline and all(run_id in p.name for p in offline)  # one W&B run, resumed
    deadline = time.monotonic() + 20  # W&B's service may still be writing the last records
    while True:
        rows = _wandb_rows(res.run_dir)
        steps = sorted({int(r["_step"]) for r in rows})
        if (steps and steps[-1] == cfg.train.steps) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert steps[-1] == cfg.train.steps
    assert any("eval/score_mean" in r for r in rows)
    assert any("policy/loss" in r or "critic/q_loss" in r for r in rows)


def test_wandb_mode_is_checked() -> None:
    with pytest.raises(GenpolicyError, match="train.wandb_mode"):
        create("default", {"train.wandb_mode": "sometimes"})
