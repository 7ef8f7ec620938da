"""Upload sessions: which chunks of a video are stored, kept in the metadata store.

State lives in the store (not in a replica's memory) and every change is a compare-and-set,
so any number of upload replicas can take one video's chunks in any order, in parallel.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pydantic import BaseModel, Field

from vodkit_shared.metadata import Collection, Document, DuplicateKey
from vodkit_shared.tokens import UploadGrant


class StoredChunk(BaseModel):
    size: int
    sha256: str


class UploadSession(BaseModel):
    video_id: str
    user_id: str
    total_chunks: int
    declared_size: int | None = None
    declared_sha256: str | None = None
    chunks: dict[str, StoredChunk] = Field(default_factory=dict, description="chunk index → what was stored")
    assembled: bool = False
    updated_at: float = 0.0

    @property
    def uploaded(self) -> list[int]:
        return sorted(int(index) for index in self.chunks)

    @property
    def next_chunk(self) -> int | None:
        stored = set(self.uploaded)
        return next((i for i in range(self.total_chunks) if i not in stored), None)

    @property
    def complete(self) -> bool:
        return len(self.chunks) == self.total_chunks

    def bytes_with(self, index: int, size: int) -> int:
        """Bytes stored once chunk `index` (re-sent or new) holds `size` bytes."""
        return sum(c.size for i, c in self.chunks.items() if i != str(index)) + size


class TotalChunksChanged(Exception):
    """A chunk claims another total than the session was opened with."""


def chunk_key(video_id: str, index: int) -> str:
    return f"uploads/{video_id}/chunks/{index:06d}"


def chunks_prefix(video_id: str) -> str:
    return f"uploads/{video_id}/"


class UploadSessions:
    def __init__(self, collection: Collection, clock: Callable[[], float] = time.time) -> None:
        self._c = collection
        self._clock = clock

    async def get(self, video_id: str) -> UploadSession | None:
        doc = await self._c.get(video_id)
        return UploadSession.model_validate(doc) if doc else None

    async def open(self, grant: UploadGrant, total_chunks: int) -> UploadSession:
        """The session, created on the first chunk; raises TotalChunksChanged on a mismatch."""
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
            raise TotalChunksChanged(f"this upload has {session.total_chunks} chunks, not {total_chunks}")
        return session

    async def record_chunk(self, video_id: str, index: int, chunk: StoredChunk) -> UploadSession:
        now = self._clock()

        def add(doc: Document) -> Document:
            return {**doc, "chunks": {**doc["chunks"], str(index): chunk.model_dump()}, "updated_at": now}

        return await self._change(video_id, add)

    async def mark_assembled(self, video_id: str) -> UploadSession:
        def mark(doc: Document) -> Document | None:
            return None if doc["assembled"] else {**doc, "assembled": True, "updated_at": self._clock()}

        return await self._change(video_id, mark)

    async def unassembled(self) -> list[UploadSession]:
        return [UploadSession.model_validate(doc) for doc in await self._c.find("assembled", False)]

    async def delete(self, video_id: str) -> None:
        await self._c.delete(video_id)

    async def _change(self, video_id: str, change: Callable[[Document], Document | None]) -> UploadSession:
        doc = await self._c.update(video_id, change)
        if doc is None:
            raise KeyError(video_id)
        return UploadSession.model_validate(doc)
