"""Expiring abandoned uploads: their chunks are deleted and the video is failed with the reason.

An upload is abandoned when no chunk has arrived for `expiry_s` (24 h by default) and it is not
assembled. Time is injectable so tests can pass a day in a moment.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from vodkit_shared.bus import MessageBus
from vodkit_shared.events import Envelope, VideoFailed, stable_event_id
from vodkit_shared.storage import ObjectStorage
from vodkit_upload.sessions import UploadSessions, chunks_prefix

log = logging.getLogger(__name__)


class UploadSweeper:
    def __init__(
        self,
        sessions: UploadSessions,
        storage: ObjectStorage,
        bus: MessageBus,
        expiry_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sessions = sessions
        self._storage = storage
        self._bus = bus
        self._expiry_s = expiry_s
        self._clock = clock

    async def sweep(self) -> list[str]:
        """Expire every abandoned upload; returns their video ids."""
        expired = []
        for session in await self._sessions.unassembled():
            if self._clock() - session.updated_at < self._expiry_s:
                continue
            removed = await self._storage.delete_prefix(chunks_prefix(session.video_id))
            reason = f"the upload expired: no chunk arrived for {self._expiry_s / 3600:g} h"
            failed = VideoFailed(stage="upload", reason=reason)
            event_id = stable_event_id(VideoFailed.TYPE, session.video_id, "upload-expired")
            await self._bus.publish(Envelope.wrap(failed, video_id=session.video_id, event_id=event_id))
            await self._sessions.delete(session.video_id)
            log.info("upload expired", extra={"videoId": session.video_id, "objectsRemoved": removed})
            expired.append(session.video_id)
        return expired
