"""Taking a body of an upload, by either API: validate it, store it, record it, announce it.

The chunk API sends numbered chunks in any order; tus appends parts at byte offsets. Both come
through here, so both keep the same rules: the upload token is for this video, the video's upload
is still open, nothing goes past the declared size, a stored body is recorded with a
compare-and-set before it is acknowledged, and `chunk.received` starts the same assembly.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from prometheus_client import Counter

from vodkit_shared.bus import BusUnavailable, MessageBus
from vodkit_shared.events import ChunkReceived, Envelope, VideoFailed, stable_event_id
from vodkit_shared.lifecycle import EndedVideos, Ending
from vodkit_shared.storage import ObjectStorage
from vodkit_shared.tokens import UploadGrant
from vodkit_upload.assembler import source_key
from vodkit_upload.errors import (
    BadChunk,
    ChecksumMismatch,
    NoSuchUpload,
    OffsetConflict,
    TooLarge,
    UploadClosed,
    WrongVideo,
)
from vodkit_upload.sessions import StoredChunk, UploadSession, UploadSessions, chunk_key, chunks_prefix, part_key
from vodkit_upload.spool import SpooledBody

RECEIVED = Counter("vodkit_upload_received_bytes_total", "Upload bytes stored and announced, by API", ["api"])
for _api in ("chunks", "tus"):  # exported at 0 from the start, so increase() sees the first bytes
    RECEIVED.labels(_api)


@dataclass(frozen=True)
class ChunkForm:
    video_id: str
    chunk_index: int
    total_chunks: int
    checksum: str | None = None  # hex SHA-256 the client computed


@dataclass(frozen=True)
class Checksum:
    """A tus `Upload-Checksum`: the algorithm and the raw digest the client computed."""

    algorithm: str
    digest: bytes


class ChunkIntake:
    def __init__(self, storage: ObjectStorage, sessions: UploadSessions, bus: MessageBus, ended: EndedVideos) -> None:
        self._storage = storage
        self._sessions = sessions
        self._bus = bus
        self._ended = ended

    # ---- the chunk API -------------------------------------------------------------------------

    async def take(self, grant: UploadGrant, form: ChunkForm, chunk: SpooledBody) -> UploadSession:
        """Store the chunk unless it breaks a rule; re-sending a stored chunk is harmless."""
        if form.video_id != grant.video_id:
            raise WrongVideo("the upload token is for another video")
        if form.chunk_index >= form.total_chunks:
            raise BadChunk("chunkIndex must be less than totalChunks")
        if chunk.size == 0:
            raise BadChunk("chunk is empty")
        if form.checksum is not None and form.checksum.lower() != chunk.sha256:
            raise ChecksumMismatch(
                f"chunk {form.chunk_index} has SHA-256 {chunk.sha256}, "
                f"not {form.checksum}: nothing was stored, send it again"
            )
        await self._refuse_if_ended(grant.video_id)
        session = await self._sessions.open(grant, form.total_chunks)
        if session.assembled:
            return session  # every chunk is in already; a late duplicate changes nothing
        if grant.size is not None and session.bytes_with(form.chunk_index, chunk.size) > grant.size:
            raise TooLarge(f"the chunks exceed the declared size of {grant.size} bytes")
        key = chunk_key(form.video_id, form.chunk_index)
        await self._storage.adopt_file(key, chunk.path)
        stored = StoredChunk.of(chunk)
        session = await self._sessions.record_chunk(form.video_id, form.chunk_index, stored)
        await self._announce(form.video_id, form.chunk_index, form.total_chunks, stored, key)
        RECEIVED.labels("chunks").inc(stored.size)
        return session

    # ---- tus -----------------------------------------------------------------------------------

    async def open_tus(self, grant: UploadGrant) -> UploadSession:
        await self._refuse_if_ended(grant.video_id)
        return await self._sessions.open_tus(grant)

    async def tus_session(self, video_id: str) -> UploadSession:
        session = await self._sessions.get(video_id)
        if session is None or not session.tus:
            raise NoSuchUpload("no such tus upload (it may have expired or been terminated)")
        return session

    async def append(
        self, grant: UploadGrant, offset: int, body: SpooledBody, checksum: Checksum | None
    ) -> UploadSession:
        """Append a part at `offset`: of parts racing for one offset, exactly one is kept, the others refused."""
        session = await self.tus_session(grant.video_id)
        await self._refuse_if_ended(grant.video_id)
        self._check_offset(session, offset)
        if checksum is not None and body.digests[checksum.algorithm] != checksum.digest:
            raise ChecksumMismatch(
                f"the body's {checksum.algorithm} is not the Upload-Checksum sent: nothing was stored"
            )
        if body.size == 0:
            return session
        key = part_key(grant.video_id, offset, uuid.uuid4().hex[:8])
        await self._storage.adopt_file(key, body.path)
        stored = StoredChunk.of(body, key)
        recorded = await self._sessions.record_part(grant.video_id, offset, stored)
        if recorded is None:
            await self._storage.delete(key)  # another request appended at this offset first
            current = await self.tus_session(grant.video_id)
            raise OffsetConflict(f"Upload-Offset is {offset}, but another request moved the upload to {current.offset}")
        await self._announce(grant.video_id, offset, 0, stored, key)
        RECEIVED.labels("tus").inc(stored.size)
        return recorded

    def room(self, session: UploadSession, offset: int) -> int:
        """Bytes a part at `offset` may hold before it goes past Upload-Length."""
        self._check_offset(session, offset)
        return (session.declared_size or 0) - offset

    async def terminate(self, grant: UploadGrant) -> None:
        """tus termination: only while the upload is open; the video then fails, and its parts go."""
        session = await self.tus_session(grant.video_id)
        if session.complete:  # every byte is in: assembly has begun, or is about to
            raise UploadClosed("the upload is complete: delete the video instead (DELETE /api/videos/{id})")
        await self._ended.record(grant.video_id, "failed")
        await self._storage.delete_prefix(chunks_prefix(grant.video_id))
        await self._sessions.delete(grant.video_id)
        failed = VideoFailed(stage="upload", reason="the upload was terminated by the client")
        event_id = stable_event_id(VideoFailed.TYPE, grant.video_id, "tus-terminated")
        await self._bus.publish(Envelope.wrap(failed, video_id=grant.video_id, event_id=event_id))

    # ---- the end of a video --------------------------------------------------------------------

    async def close(self, video_id: str, ending: Ending) -> None:
        """The video ended: its upload takes nothing more, and its chunks (and, if deleted, its original) go.

        The end is already recorded (`subscribe_to_endings` does that first), so no chunk gets in after."""
        await self._storage.delete_prefix(chunks_prefix(video_id))
        await self._sessions.delete(video_id)
        if ending == "deleted":
            await self._storage.delete(source_key(video_id))  # an assembly racing the delete may have written it

    # ---- both ----------------------------------------------------------------------------------

    async def _refuse_if_ended(self, video_id: str) -> None:
        ending = await self._ended.ending(video_id)
        if ending is not None:
            raise UploadClosed(f"the video was {ending}: its upload token no longer takes chunks")

    @staticmethod
    def _check_offset(session: UploadSession, offset: int) -> None:
        if session.assembled or offset != session.offset:
            raise OffsetConflict(f"Upload-Offset is {offset}, but the upload is at {session.offset}")

    async def _announce(self, video_id: str, index: int, total: int, stored: StoredChunk, key: str) -> None:
        """Say the body is in; if the broker cannot hear it, take the body back out, so that nothing is
        half-stored: the client is told 503, and the same request again, later, does it all."""
        event = ChunkReceived(chunk_index=index, total_chunks=total, size=stored.size, key=key)
        try:
            await self._bus.publish(Envelope.wrap(event, video_id=video_id))
        except BusUnavailable:
            if await self._sessions.forget(video_id, index, stored):
                await self._storage.delete(key)
            raise
