"""Upload sessions: which chunks of a video are stored, kept in the metadata store.

State lives in the store (not in a replica's memory) and every change is a compare-and-set,
so any number of upload replicas can take one video's chunks in any order, in parallel.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from prometheus_client import Gauge
from pydantic import BaseModel, Field

from vodkit_shared.metadata import Collection, Document, DuplicateKey
from vodkit_shared.tokens import UploadGrant
from vodkit_upload.errors import BadChunk
from vodkit_upload.spool import SpooledBody

SESSIONS_OPEN = Gauge("vodkit_upload_sessions_open", "Upload sessions not yet assembled (in the shared store)")


class StoredChunk(BaseModel):
    size: int
    sha256: str
    key: str | None = None  # where a tus part lives (chunks live at chunk_key(video, index))

    @classmethod
    def of(cls, body: SpooledBody, key: str | None = None) -> StoredChunk:
        return cls(size=body.size, sha256=body.sha256, key=key)


class UploadSession(BaseModel):
    video_id: str
    user_id: str
    total_chunks: int
    declared_size: int | None = None
    declared_sha256: str | None = None
    chunks: dict[str, StoredChunk] = Field(
        default_factory=dict, description="chunk index (for tus: the part's byte offset) → what was stored"
    )
    assembled: bool = False
    updated_at: float = 0.0
    tus: bool = False  # a tus upload: parts keyed by offset, complete when the declared length is in

    @property
    def uploaded(self) -> list[int]:
        return sorted(int(index) for index in self.chunks)

    @property
    def next_chunk(self) -> int | None:
        stored = set(self.uploaded)
        return next((i for i in range(self.total_chunks) if i not in stored), None)

    @property
    def complete(self) -> bool:
        if self.tus:
            return self.declared_size is not None and self.offset == self.declared_size
        return len(self.chunks) == self.total_chunks

    @property
    def offset(self) -> int:
        """Bytes stored (for tus: the next byte expected)."""
        return sum(chunk.size for chunk in self.chunks.values())

    def bytes_with(self, index: int, size: int) -> int:
        """Bytes stored once chunk `index` (re-sent or new) holds `size` bytes."""
        return sum(c.size for i, c in self.chunks.items() if i != str(index)) + size


def chunk_key(video_id: str, index: int) -> str:
    return f"uploads/{video_id}/chunks/{index:06d}"


def part_key(video_id: str, offset: int, nonce: str) -> str:
    """A tus part's own key: two racing PATCHes at one offset never write the same object."""
    return f"uploads/{video_id}/parts/{offset:016d}-{nonce}"


def chunks_prefix(video_id: str) -> str:
    return f"uploads/{video_id}/"


class UploadSessions:
    def __init__(self, collection: Collection, clock: Callable[[], float] = time.time) -> None:
        self._c = collection
        self._clock = clock

    async def get(self, video_id: str) -> UploadSession | None:
        doc = await self._c.get(video_id)
        return UploadSession.model_validate(doc) if doc else None

    async def open_tus(self, grant: UploadGrant) -> UploadSession:
        """A tus upload's session, created by its creation request (a repeat changes nothing)."""
        fresh = UploadSession(
            video_id=grant.video_id,
            user_id=grant.user_id,
            total_chunks=0,
            tus=True,
            declared_size=grant.size,
            declared_sha256=grant.sha256,
            updated_at=self._clock(),
        )
        with contextlib.suppress(DuplicateKey):
            await self._c.insert(grant.video_id, fresh.model_dump())
        session = await self.get(grant.video_id)
        assert session is not None
        return session

    async def record_part(self, video_id: str, offset: int, chunk: StoredChunk) -> UploadSession | None:
        """Record a tus part that starts at `offset`; None if another part got there first."""
        now = self._clock()

        def append(doc: Document) -> Document | None:
            if UploadSession.model_validate(doc).offset != offset:
                return None
            return {**doc, "chunks": {**doc["chunks"], str(offset): chunk.model_dump()}, "updated_at": now}

        doc = await self._c.update(video_id, append)
        session = UploadSession.model_validate(doc) if doc else None
        if session is None or session.chunks.get(str(offset)) != chunk:
            return None  # the part at this offset is another request's (its key differs)
        return session

    async def open(self, grant: UploadGrant, total_chunks: int) -> UploadSession:
        """The session, created on the first chunk; raises BadChunk if the chunk claims another total."""
        session = await self.get(grant.video_id)
        if session is None:
            fresh = UploadSession(
                video_id=grant.video_id,
                user_id=grant.user_id,
                total_chunks=total_chunks,
                declared_size=grant.size,
                declared_sha256=grant.sha256,
                updated_at=self._clock(),
            )
            try:
                await self._c.insert(grant.video_id, fresh.model_dump())
                return fresh
            except DuplicateKey:
                session = await self.get(grant.video_id)
                assert session is not None
        if session.total_chunks != total_chunks:
            raise BadChunk(f"this upload has {session.total_chunks} chunks, not {total_chunks}")
        return session

    async def record_chunk(self, video_id: str, index: int, chunk: StoredChunk) -> UploadSession:
        now = self._clock()

        def add(doc: Document) -> Document:
            return {**doc, "chunks": {**doc["chunks"], str(index): chunk.model_dump()}, "updated_at": now}

        return await self._change(video_id, add)

    async def forget(self, video_id: str, index: int, chunk: StoredChunk) -> bool:
        """Take chunk `index` (a tus part: its offset) out again, if it is still the one recorded; True if so."""
        taken = False

        def take_out(doc: Document) -> Document | None:
            nonlocal taken
            taken = not doc["assembled"] and doc["chunks"].get(str(index)) == chunk.model_dump()
            if not taken:
                return None
            return {**doc, "chunks": {i: c for i, c in doc["chunks"].items() if i != str(index)}}

        await self._c.update(video_id, take_out)
        return taken

    async def mark_assembled(self, video_id: str) -> UploadSession:
        def mark(doc: Document) -> Document | None:
            return None if doc["assembled"] else {**doc, "assembled": True, "updated_at": self._clock()}

        return await self._change(video_id, mark)

    async def unassembled(self) -> list[UploadSession]:
        return [UploadSession.model_validate(doc) for doc in await self._c.find("assembled", False)]

    async def export_open(self) -> None:
        """Set the open-sessions gauge (run every `SESSIONS_EVERY_S` by the app)."""
        SESSIONS_OPEN.set(len(await self._c.find("assembled", False)))

    async def delete(self, video_id: str) -> None:
        await self._c.delete(video_id)

    async def _change(self, video_id: str, change: Callable[[Document], Document | None]) -> UploadSession:
        doc = await self._c.update(video_id, change)
        if doc is None:
            raise KeyError(video_id)
        return UploadSession.model_validate(doc)
