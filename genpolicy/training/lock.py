"""One writer per run folder: an exclusive lock file beside it, ``<out_dir>/.<run>.lock``.

The trainer takes it before it looks at the run folder (a new run, ``--resume`` and
``--overwrite`` alike) and the sweep's trials take the same one, so two processes never
write one run. The lock is ``fcntl.flock`` on that file, so the system releases it when
its process dies, kill -9 included; the file holds the owner's pid and host while it is
held and is emptied on a clean release. A file that still names an owner when the lock is
free is a leftover of a process that died: it is taken over, with a one-line note.

Within one process the lock is re-entrant (a sweep trial holds it around the trainer's).
On systems without ``fcntl`` there is no lock.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from genpolicy.errors import GenpolicyError


class RunBusy(GenpolicyError):
    """Another process holds the lock of this run folder."""


# per lock file (resolved path): the open file that holds the lock and how often it is held
_HELD: dict[Path, list[Any]] = {}


def lock_path(run_dir: Path) -> Path:
    """The lock file of run folder ``run_dir``."""
    return run_dir.parent / f".{run_dir.name}.lock"


def _owner(text: str) -> str:
    """'pid P on host H' from a lock file's text (``"P H"``)."""
    parts = text.split()
    if len(parts) >= 2:
        return f"pid {parts[0]} on host {parts[1]}"
    return f"pid {parts[0]}" if parts else "an unknown process"


def acquire(run_dir: Path, what: str = "run") -> Path:
    """Take the lock of ``run_dir`` (creating its parent folder); returns the lock file's
    path. Raises ``RunBusy`` naming the holder if another process has it, and
    ``GenpolicyError`` if the parent folder cannot be written."""
    run_dir = Path(run_dir)
    path = lock_path(run_dir)
    key = path.resolve()
    held = _HELD.get(key)
    if held is not None:
        held[1] += 1
        return path
    try:
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        f: IO[str] = path.open("a+")
    except OSError as exc:
        raise GenpolicyError(
            f"cannot write the output folder {run_dir.parent} ({exc.strerror or exc}); "
            "make it writable or set train.out_dir to a folder you can write"
        ) from None
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        _HELD[key] = [f, 1]
        return path
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.seek(0)
        holder = _owner(f.read())
        f.close()
        raise RunBusy(
            f"{what} {run_dir} is being written by another process ({holder}; lock {path}); "
            "wait for it to end or stop it, or use another train.run_name"
        ) from None
    f.seek(0)
    old = f.read().strip()
    if old:
        print(
            f"genpolicy: taking over the lock {path} left by {_owner(old)}, which has ended",
            file=sys.stderr,
        )
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()} {socket.gethostname()}\n")
    f.flush()
    _HELD[key] = [f, 1]
    return path


def release(run_dir: Path) -> None:
    """Give back one hold of ``run_dir``'s lock; the last one empties the file and frees it."""
    key = lock_path(Path(run_dir)).resolve()
    held = _HELD.get(key)
    if held is None:
        return
    held[1] -= 1
    if held[1] > 0:
        return
    del _HELD[key]
    f = held[0]
    try:
        f.seek(0)
        f.truncate()  # a clean release leaves no owner behind
    except OSError:
        pass
    finally:
        f.close()  # closing the file frees the flock


@contextlib.contextmanager
def run_lock(run_dir: Path, what: str = "run") -> Iterator[Path]:
    """``acquire`` for the duration of a ``with`` block."""
    path = acquire(run_dir, what)
    try:
        yield path
    finally:
        release(run_dir)
