"""Stopping a run cleanly: Ctrl-C and SIGTERM finish the step, checkpoint and stop."""

from __future__ import annotations

import signal
import sys
from typing import Any


def install_stop_handlers(trainer: Any) -> dict[int, Any]:
    """First Ctrl-C or SIGTERM: finish the step, checkpoint, stop. A second one: raise
    KeyboardInterrupt. Returns the previous handlers (none off the main thread)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return {}

    def handler(signum: int, frame: Any) -> None:
        if trainer._stop_requested:
            raise KeyboardInterrupt
        trainer.stop_signal = signum
        trainer.request_stop()
        what = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
        print(
            f"\ngenpolicy: {what}: stopping after this step and saving a checkpoint "
            f"({what} again to abort)",
            file=sys.stderr,
            flush=True,
        )

    return {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
