"""Assembly: once every chunk is stored, concatenate them into the original and announce it.

Safe to run more than once for a video (two last chunks arriving together, a redelivery):
the original is rewritten with the same bytes and `video.assembled` carries a stable id, so
consumers drop the duplicate. Chunks are deleted only after the event is published.
"""

from __future__ import annotations

import logging

from vodkit_shared.bus import MessageBus
from vodkit_shared.events import ChunkReceived, Envelope, VideoAssembled, stable_event_id
from vodkit_shared.storage import ObjectStorage
from vodkit_upload.sessions import UploadSessions, chunk_key

log = logging.getLogger(__name__)


def source_key(video_id: str) -> str:
    return f"originals/{video_id}/source"


class Assembler:
    def __init__(self, storage: ObjectStorage, sessions: UploadSessions, bus: MessageBus) -> None:
        self._storage = storage
        self._sessions = sessions
        self._bus = bus

    async def on_chunk_received(self, envelope: Envelope) -> None:
        envelope.payload(ChunkReceived)
        session = await self._sessions.get(envelope.video_id)
        if session is None or session.assembled or not session.complete:
            return
        chunks = [chunk_key(session.video_id, i) for i in range(session.total_chunks)]
        size = await self._storage.compose(source_key(session.video_id), chunks)
        assembled = VideoAssembled(source_key=source_key(session.video_id), size=size)
        event_id = stable_event_id(VideoAssembled.TYPE, session.video_id)
        await self._bus.publish(envelope.follow(assembled, event_id))
        await self._sessions.mark_assembled(session.video_id)
        for key in chunks:
            await self._storage.delete(key)
        log.info("video assembled", extra={"videoId": session.video_id, "size": size})
