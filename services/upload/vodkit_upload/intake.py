"""Taking one chunk: validate it, store it, record it, announce it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vodkit_shared.bus import MessageBus
from vodkit_shared.events import ChunkReceived, Envelope
from vodkit_shared.storage import ObjectStorage
from vodkit_shared.tokens import UploadGrant
from vodkit_upload.sessions import StoredChunk, UploadSession, UploadSessions, chunk_key


@dataclass(frozen=True)
class ChunkForm:
    video_id: str
    chunk_index: int
    total_chunks: int
    checksum: str | None = None  # hex SHA-256 the client computed


@dataclass(frozen=True)
class SpooledChunk:
    """A chunk read off the socket into a local file, hashed on the way."""

    path: Path
    size: int
    sha256: str


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

    async def take(self, grant: UploadGrant, form: ChunkForm, chunk: SpooledChunk) -> UploadSession:
        """Store the chunk unless it breaks a rule; re-sending a stored chunk is harmless."""
        if form.video_id != grant.video_id:
            raise ChunkRejected(403, "forbidden", "the upload token is for another video")
        if form.chunk_index >= form.total_chunks:
            raise ChunkRejected(400, "bad_request", "chunkIndex must be less than totalChunks")
        if chunk.size == 0:
            raise ChunkRejected(400, "bad_request", "chunk is empty")
        if form.checksum is not None and form.checksum.lower() != chunk.sha256:
            raise ChunkRejected(
                400,
                "checksum_mismatch",
                f"chunk {form.chunk_index} has SHA-256 {chunk.sha256}, "
                f"not {form.checksum}: nothing was stored, send it again",
            )
        session = await self._sessions.open(grant, form.total_chunks)
        if session.assembled:
            return session  # every chunk is in already; a late duplicate changes nothing
        if grant.size is not None and session.bytes_with(form.chunk_index, chunk.size) > grant.size:
            raise ChunkRejected(413, "too_large", f"the chunks exceed the declared size of {grant.size} bytes")
        key = chunk_key(form.video_id, form.chunk_index)
        await self._storage.adopt_file(key, chunk.path)
        stored = StoredChunk(size=chunk.size, sha256=chunk.sha256)
        session = await self._sessions.record_chunk(form.video_id, form.chunk_index, stored)
        event = ChunkReceived(chunk_index=form.chunk_index, total_chunks=form.total_chunks, size=chunk.size, key=key)
        await self._bus.publish(Envelope.wrap(event, video_id=form.video_id))
        return session
