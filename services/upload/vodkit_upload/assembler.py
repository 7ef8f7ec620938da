"""Assembly: once every chunk is stored, concatenate them into the original, check it, announce it.

Concatenation is server-side where the backend can (S3 `compose_object`). The original is then
checked against what the client declared (size, and SHA-256 if it gave one): a mismatch fails the
video with the reason. Safe to run more than once for a video (two last chunks arriving together,
a redelivery): the original is rewritten with the same bytes and `video.assembled` carries a stable
id. Chunks are deleted only after the event is published.

The assembler never opens the media: the transcoder probes the original (confined, with the full
stream information its ladder needs) and fails a video it refuses with the reason. So this service
parses no untrusted media at all, and its image carries no ffmpeg.
"""

from __future__ import annotations

import logging
import time

from prometheus_client import Counter, Histogram

from vodkit_shared.bus import MessageBus
from vodkit_shared.events import ChunkReceived, Envelope, VideoAssembled, stable_event_id
from vodkit_shared.lifecycle import EndedVideos
from vodkit_shared.storage import ObjectStorage
from vodkit_upload.errors import OriginalMismatch
from vodkit_upload.sessions import UploadSession, UploadSessions, chunk_key, chunks_prefix

log = logging.getLogger(__name__)
ASSEMBLIES = Counter("vodkit_upload_assemblies_total", "Originals assembled (done) or refused (mismatch)", ["outcome"])
ASSEMBLY_SECONDS = Histogram(
    "vodkit_upload_assembly_duration_seconds",
    "From the last chunk's event to video.assembled published",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)


def source_key(video_id: str) -> str:
    return f"originals/{video_id}/source"


class Assembler:
    def __init__(self, storage: ObjectStorage, sessions: UploadSessions, bus: MessageBus, ended: EndedVideos) -> None:
        self._storage = storage
        self._sessions = sessions
        self._bus = bus
        self._ended = ended

    async def on_chunk_received(self, envelope: Envelope) -> None:
        envelope.payload(ChunkReceived)
        session = await self._sessions.get(envelope.video_id)
        if session is None or session.assembled or not session.complete or await self._ended.ended(session.video_id):
            return
        started, key = time.monotonic(), source_key(session.video_id)
        chunks = [session.chunks[str(i)].key or chunk_key(session.video_id, i) for i in session.uploaded]
        size = await self._storage.compose(key, chunks)
        if await self._ended.ended(session.video_id):  # deleted or terminated while we composed
            await self._storage.delete(key)
            return
        sha256 = await self._storage.sha256(key)
        await self._check(session, size, sha256)
        assembled = VideoAssembled(source_key=key, size=size, sha256=sha256)
        await self._bus.publish(envelope.follow(assembled, stable_event_id(VideoAssembled.TYPE, session.video_id)))
        await self._sessions.mark_assembled(session.video_id)
        await self._storage.delete_prefix(chunks_prefix(session.video_id))
        log.info("video assembled", extra={"videoId": session.video_id, "size": size, "sha256": sha256})
        ASSEMBLIES.labels("done").inc()
        ASSEMBLY_SECONDS.observe(time.monotonic() - started)

    async def _check(self, session: UploadSession, size: int, sha256: str) -> None:
        problem = None
        if session.declared_size is not None and size != session.declared_size:
            problem = f"the upload holds {size} bytes, but {session.declared_size} were declared"
        elif session.declared_sha256 is not None and sha256 != session.declared_sha256.lower():
            problem = f"the upload's SHA-256 is {sha256}, but {session.declared_sha256} was declared"
        if problem:
            ASSEMBLIES.labels("refused").inc()
            await self._storage.delete(source_key(session.video_id))  # the chunks stay until the sweeper
            raise OriginalMismatch(problem)
