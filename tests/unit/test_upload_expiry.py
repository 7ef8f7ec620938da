"""A video that never receives a byte does not stay `uploading` for ever."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import eventually
from vodkit_gateway.expiry import UploadExpiry
from vodkit_gateway.videos import VideoRecord, Videos
from vodkit_shared.bus import Subscription
from vodkit_shared.bus.memory import MemoryBus
from vodkit_shared.events import Envelope, VideoAssembled, VideoFailed
from vodkit_shared.metadata import open_metadata

pytestmark = pytest.mark.unit
HOUR = 3600.0


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_silent_upload_is_failed_after_the_expiry(tmp_path: Path) -> None:
    store = await open_metadata(f"sqlite:///{tmp_path / 'meta.db'}")
    bus = MemoryBus(f"expiry-{tmp_path.name}")
    collection = store.collection("videos")
    videos = Videos(collection)
    await bus.subscribe(Subscription("gateway", VideoFailed.TYPE, videos.on_event))
    silent = VideoRecord(video_id="v1", owner="alice", filename="a.mp4", size=10)
    await videos.create(silent)
    await videos.create(silent.model_copy(update={"video_id": "v2"}))
    clock = Clock()
    clock.now = silent.created_at + HOUR
    expiry = UploadExpiry(videos, bus, expiry_s=25 * HOUR, clock=clock)
    try:
        assert await expiry.sweep() == []
        await videos.on_event(Envelope.wrap(VideoAssembled(source_key="k", size=1), video_id="v2"))
        clock.now = silent.created_at + 26 * HOUR
        assert await expiry.sweep() == ["v1"]  # v2 is processing: its upload is over

        async def failed() -> bool:
            video = await videos.get("v1")
            return video is not None and video.status == "failed"

        await eventually(failed)
        video = await videos.get("v1")
        assert video is not None
        assert "expired" in (video.error or "")
    finally:
        await bus.close()
        await store.close()
