"""The packager measures its segments' first video timestamp while they are clear (worker.py, hls.py)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.support import make_clip
from vodkit_packager import worker
from vodkit_packager.hls import FORMATS, first_pts, segment
from vodkit_packager.packages import Packages
from vodkit_packager.settings import PackagerSettings
from vodkit_packager.worker import Packager
from vodkit_shared.bus.memory import MemoryBus
from vodkit_shared.content_keys import ContentKeys, EncryptionPolicy
from vodkit_shared.events import RenditionReady
from vodkit_shared.lifecycle import EndedVideos
from vodkit_shared.metadata import open_metadata
from vodkit_shared.storage.files import FileStorage

pytestmark = pytest.mark.media
VIDEO = "v1"


class EncryptedVideos(ContentKeys):
    async def policy(self, video_id: str) -> EncryptionPolicy | None:
        return EncryptionPolicy(rotation_segments=1)


async def scramble(video_id: str, out_dir: Path, playlist: Path, segments: list[Any], *args: Any) -> None:
    """Stands for encryption: the segments can no longer be read."""
    for seg in segments:
        (out_dir / seg.name).write_bytes(os.urandom((out_dir / seg.name).stat().st_size))


@pytest.mark.parametrize("fmt", ["mpegts", "fmp4"])
async def test_an_encrypted_rendition_records_the_first_timestamp_of_its_clear_segments(
    fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clip = make_clip(tmp_path / "clip.mp4", seconds=4, width=320, height=240)
    clear = await segment(clip, tmp_path / "clear", 2, FORMATS[fmt])
    init = tmp_path / "clear" / "init.mp4" if fmt == "fmp4" else None
    expected = await first_pts(tmp_path / "clear" / clear[0].name, init, tmp_path)
    assert expected > 0

    (tmp_path / "work").mkdir()
    storage = FileStorage(tmp_path / "objects")
    await storage.put_file(f"renditions/{VIDEO}/240p.mp4", clip, "video/mp4")
    metadata = await open_metadata(f"sqlite:///{tmp_path / 'meta.db'}")
    monkeypatch.setattr(worker, "encrypt_rendition", scramble)
    try:
        packager = Packager(
            storage,
            MemoryBus("first-pts"),
            Packages(metadata.collection("packages")),
            EndedVideos(metadata.collection("packager_ended")),
            PackagerSettings(segment_format=fmt, work_dir=tmp_path / "work"),
            EncryptedVideos(metadata.collection("content_keys")),
        )
        ready = RenditionReady(
            rung="240p",
            key=f"renditions/{VIDEO}/240p.mp4",
            width=320,
            height=240,
            ladder=["240p"],
            segment_seconds=2,
            duration_seconds=4.0,
        )
        variant = await packager._package(VIDEO, ready)
    finally:
        await metadata.close()
    assert variant.first_pts == expected  # before: not recorded; subtitles re-cut the whole rendition
