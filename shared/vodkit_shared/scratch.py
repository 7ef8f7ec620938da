"""Scratch directories that a killed process cannot leak.

A service that works on local copies (a transcode's source and renditions, a package's segments)
does so in a directory of its own, locked with `flock` for as long as it is used. The lock goes
with the process, whatever kills it, so at start a service removes every directory of its kind
whose lock is free: left by a process that died. A live one, of this process or another sharing
the disk, holds its lock and is left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

log = logging.getLogger(__name__)
LOCK = ".in-use"
UNLOCKED_GRACE_S = 60.0  # a directory made but not yet locked (its maker died in between) after this long


@contextlib.asynccontextmanager
async def scratch_dir(prefix: str, parent: Path | None = None) -> AsyncIterator[Path]:
    """A fresh directory, locked while the block runs, removed after it."""
    path, fd = await asyncio.to_thread(_make_locked, prefix, parent)
    try:
        yield path
    finally:
        await asyncio.to_thread(_remove, path, fd)


async def sweep_abandoned(prefix: str, parent: Path | None = None) -> list[Path]:
    """Remove the directories `prefix*` under `parent` (the system's temporary directory by default)
    whose lock no process holds, and say so; returns them."""
    removed = await asyncio.to_thread(_sweep, prefix, Path(parent or tempfile.gettempdir()))
    if removed:
        log.warning(
            "removed scratch space that stopped processes left", extra={"prefix": prefix, "count": len(removed)}
        )
    return removed


def _make_locked(prefix: str, parent: Path | None) -> tuple[Path, int]:
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    fd = os.open(path / LOCK, os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return path, fd


def _remove(path: Path, fd: int) -> None:
    shutil.rmtree(path, ignore_errors=True)
    os.close(fd)  # the lock goes last: nobody sweeps a directory while it is being removed


def _sweep(prefix: str, parent: Path) -> list[Path]:
    removed = []
    for path in sorted(parent.glob(f"{prefix}*")):
        if path.is_dir() and _abandoned(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _abandoned(path: Path) -> bool:
    try:
        fd = os.open(path / LOCK, os.O_RDWR)
    except FileNotFoundError:
        return time.time() - path.stat().st_mtime > UNLOCKED_GRACE_S
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False  # its process is alive and working in it
    finally:
        os.close(fd)
    return True
