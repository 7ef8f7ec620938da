"""Abandoned uploads expire: chunks deleted, session gone, the video failed with the reason."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.support import eventually
from vodkit_shared.bus import Subscription
from vodkit_shared.bus.memory import MemoryBus
from vodkit_shared.events import Envelope, VideoFailed
from vodkit_shared.lifecycle import EndedVideos
from vodkit_shared.metadata import open_metadata
from vodkit_shared.storage import open_storage
from vodkit_shared.tokens import UploadGrant
from vodkit_upload.intake import ChunkForm, ChunkIntake
from vodkit_upload.sessions import UploadSessions
from vodkit_upload.spool import SpooledBody
from vodkit_upload.sweeper import UploadSweeper

pytestmark = pytest.mark.unit
DAY = 24 * 3600


class Clock:
    now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_an_abandoned_upload_leaves_nothing_behind(tmp_path: Path) -> None:
    clock = Clock()
    storage = await open_storage(f"file://{tmp_path / 'objects'}")
    store = await open_metadata(f"sqlite:///{tmp_path / 'meta.db'}")
    bus = MemoryBus(f"sweep-{tmp_path.name}")
    failed: list[Envelope] = []

    async def on_failed(envelope: Envelope) -> None:
        failed.append(envelope)

    await bus.subscribe(Subscription("probe", VideoFailed.TYPE, on_failed))
    sessions = UploadSessions(store.collection("upload_sessions"), clock)
    intake = ChunkIntake(storage, sessions, bus, EndedVideos(store.collection("upload_ended")))
    for video_id, age in (("stale", DAY / 2), ("fresh", 0)):
        chunk = tmp_path / f"{video_id}.bin"
        chunk.write_bytes(b"data")
        spooled = SpooledBody(chunk, 4, {"sha256": hashlib.sha256(b"data").digest()})
        await intake.take(UploadGrant(video_id, "alice", 0), ChunkForm(video_id, 0, 2), spooled)
        clock.now += age
    sweeper = UploadSweeper(sessions, storage, bus, expiry_s=DAY, clock=clock)
    try:
        assert await sweeper.sweep() == []  # the older is 12 h old
        clock.now += DAY / 2 + 1
        assert await sweeper.sweep() == ["stale"]
        assert await storage.keys("uploads/stale/") == []
        assert await sessions.get("stale") is None
        assert await storage.keys("uploads/fresh/") == ["uploads/fresh/chunks/000000"]
        await eventually(lambda: len(failed) == 1)
        assert failed[0].video_id == "stale"
        assert "expired" in failed[0].payload(VideoFailed).reason
    finally:
        await bus.close()
        await store.close()
