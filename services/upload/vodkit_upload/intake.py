"""Taking one chunk: validate it, store it, record it, announce it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vodkit_shared.bus import MessageBus
from vodkit_shared.events import ChunkReceived, Envelope
from vodkit_shared.storage import ObjectStorage
from vodkit_shared.tokens import UploadGrant
from vodkit_upload.sessions import UploadSession, UploadSessions, chunk_key


@dataclass(frozen=True)
class ChunkForm:
    video_id: str
    chunk_index: int
    total_chunks: int


class ChunkRejected(Exception):
    """The chunk breaks a rule; `status` is the HTTP status that says so."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class ChunkIntake:
    def __init__(self, storage: ObjectStorage, sessions: UploadSessions, bus: MessageBus) -> None:
        self._storage = storage
        self._sessions = sessions
        self._bus = bus

    async def take(self, grant: UploadGrant, form: ChunkForm, spooled: Path, size: int) -> UploadSession:
        """Store the spooled chunk; re-sending a stored chunk is harmless."""
        if form.video_id != grant.video_id:
            raise ChunkRejected(403, "forbidden", "the upload token is for another video")
        if form.chunk_index >= form.total_chunks:
            raise ChunkRejected(400, "bad_request", "chunkIndex must be less than totalChunks")
        if size == 0:
            raise ChunkRejected(400, "bad_request", "chunk is empty")
        session = await self._sessions.open(form.video_id, grant.user_id, form.total_chunks)
        if session.assembled:
            return session  # every chunk is in already; a late duplicate changes nothing
        key = chunk_key(form.video_id, form.chunk_index)
        await self._storage.put_file(key, spooled)
        session = await self._sessions.record_chunk(form.video_id, form.chunk_index, size)
        event = ChunkReceived(chunk_index=form.chunk_index, total_chunks=form.total_chunks, size=size, key=key)
        await self._bus.publish(Envelope.wrap(event, video_id=form.video_id))
        return session
