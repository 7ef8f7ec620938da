"""Videos that never finish uploading are failed, so none stays `uploading` for ever.

The upload service's sweeper expires uploads that have a session (some bytes arrived). A video
created but never sent a byte has no session there; the gateway, which owns the video records,
fails it once no event has touched it for `expiry_s`. A video the upload sweeper already failed is
final, so the two never disagree.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from vodkit_gateway.videos import Videos
from vodkit_shared.bus import MessageBus
from vodkit_shared.events import Envelope, VideoFailed, stable_event_id

log = logging.getLogger(__name__)


class UploadExpiry:
    def __init__(
        self, videos: Videos, bus: MessageBus, expiry_s: float, clock: Callable[[], float] = time.time
    ) -> None:
        self._videos = videos
        self._bus = bus
        self._expiry_s = expiry_s
        self._clock = clock

    async def sweep(self) -> list[str]:
        """Fail every video still uploading with no event for `expiry_s`; returns their ids."""
        expired = []
        for video in await self._videos.uploading():
            if self._clock() - video.updated_at < self._expiry_s:
                continue
            reason = f"the upload expired: nothing arrived for {self._expiry_s / 3600:g} h"
            event_id = stable_event_id(VideoFailed.TYPE, video.video_id, "upload-expired-at-gateway")
            failed = VideoFailed(stage="upload", reason=reason)
            await self._bus.publish(Envelope.wrap(failed, video_id=video.video_id, event_id=event_id))
            log.info("upload expired", extra={"videoId": video.video_id})
            expired.append(video.video_id)
        return expired
