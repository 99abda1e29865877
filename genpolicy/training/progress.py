"""Progress of a run: a tqdm bar on a terminal, otherwise a line every few seconds."""

from __future__ import annotations

import sys
import time
from typing import Any


class Ticker:
    """A progress line on stderr every ``interval`` seconds: step, steps/s, ETA."""

    def __init__(self, name: str, total: int, start: int, interval: float) -> None:
        self.name, self.total, self.interval = name, total, interval
        self.t0 = self.last = time.perf_counter()
        self.start = start

    def tick(self, step: int) -> None:
        now = time.perf_counter()
        if now - self.last < self.interval:
            return
        self.last = now
        rate = (step - self.start) / max(now - self.t0, 1e-9)
        eta = fmt_seconds((self.total - step) / rate) if rate > 0 else "?"
        print(
            f"genpolicy: {self.name}: step {step}/{self.total} "
            f"({100 * step / self.total:.0f}%), {rate:.3g} steps/s, ETA {eta}",
            file=sys.stderr,
            flush=True,
        )


def fmt_seconds(seconds: float) -> str:
    s = max(0, int(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def progress_bar(enabled: bool, total: int, initial: int, desc: str) -> Any:
    """A tqdm bar when ``enabled`` and stderr is a terminal (a log file gets lines instead)."""
    if not enabled or not sys.stderr.isatty():
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, dynamic_ncols=True, file=sys.stderr)
