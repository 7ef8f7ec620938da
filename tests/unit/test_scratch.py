"""Scratch space a killed process leaves is swept at the next start; a live process's is left alone."""

from __future__ import annotations

import asyncio
import signal
import sys
from asyncio.subprocess import PIPE
from pathlib import Path

import pytest

from vodkit_shared.scratch import scratch_dir, sweep_abandoned

pytestmark = pytest.mark.unit
PREFIX = "vodkit-test-scratch-"
HOLD = f"""
import asyncio, sys
from pathlib import Path
from vodkit_shared.scratch import scratch_dir

async def main():
    async with scratch_dir("{PREFIX}", Path(sys.argv[1])) as work:
        (work / "source").write_bytes(b"x" * 1000)
        print(work, flush=True)
        await asyncio.sleep(3600)

asyncio.run(main())
"""


async def hold(parent: Path) -> tuple[asyncio.subprocess.Process, Path]:
    """A process working in a scratch directory of its own; returns it and the directory."""
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", HOLD, str(parent), stdout=PIPE)
    assert process.stdout is not None
    return process, Path((await process.stdout.readline()).decode().strip())


async def test_a_killed_workers_scratch_is_swept_and_a_live_one_is_not(tmp_path: Path) -> None:
    killed, left = await hold(tmp_path)
    alive, theirs = await hold(tmp_path)
    try:
        killed.send_signal(signal.SIGKILL)  # no finally runs: its directory stays
        await killed.wait()
        assert (left / "source").exists()
        async with scratch_dir(PREFIX, tmp_path) as ours:
            assert await sweep_abandoned(PREFIX, tmp_path) == [left]
            assert not left.exists()
            assert ours.exists()  # this process's own, in use
            assert theirs.exists()  # another live process's
        assert not ours.exists()
    finally:
        alive.kill()
        await alive.wait()
