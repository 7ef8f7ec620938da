"""A transcoder or packager that starts removes the scratch space a killed one left on its disk."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp import web

from vodkit_packager.app import create_app as packager_app
from vodkit_packager.settings import PackagerSettings
from vodkit_shared.scratch import LOCK
from vodkit_transcoder.app import create_app as transcoder_app
from vodkit_transcoder.settings import TranscoderSettings

pytestmark = pytest.mark.unit


def left_behind(work: Path, prefix: str) -> Path:
    """What a worker killed mid-job leaves: its directory, its lock file (no process holds it), a source."""
    path = work / f"{prefix}abc123"
    path.mkdir(parents=True)
    (path / LOCK).touch()
    (path / "source").write_bytes(b"x" * 4096)
    old = time.time() - 3600
    os.utime(path, (old, old))
    return path


def transcoder(data: Path, work: Path) -> web.Application:
    return transcoder_app(TranscoderSettings(data_dir=data, work_dir=work, hwaccel="none"))


def packager(data: Path, work: Path) -> web.Application:
    return packager_app(PackagerSettings(data_dir=data, work_dir=work))


@pytest.mark.parametrize(("make_app", "prefix"), [(transcoder, "vodkit-transcode-"), (packager, "vodkit-package-")])
async def test_a_starting_service_sweeps_what_a_killed_one_left(
    tmp_path: Path, make_app: Callable[[Path, Path], web.Application], prefix: str
) -> None:
    work = tmp_path / "scratch"
    leftover = left_behind(work, prefix)
    runner = web.AppRunner(make_app(tmp_path / "data", work))
    await runner.setup()
    try:
        assert not leftover.exists()
    finally:
        await runner.cleanup()
