"""Upload sessions: which chunks of a video are stored, kept in the metadata store.

State lives in the store (not in a replica's memory) and every change is a compare-and-set,
so any number of upload replicas can take one video's chunks in any order, in parallel.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, Field

from vodkit_shared.metadata import Collection, Document, DuplicateKey


class UploadSession(BaseModel):
    video_id: str
    user_id: str
    total_chunks: int
    chunk_sizes: dict[str, int] = Field(default_factory=dict, description="chunk index → bytes")
    assembled: bool = False

    @property
    def uploaded(self) -> list[int]:
        return sorted(int(index) for index in self.chunk_sizes)

    @property
    def next_chunk(self) -> int | None:
        stored = set(self.uploaded)
        return next((i for i in range(self.total_chunks) if i not in stored), None)

    @property
    def complete(self) -> bool:
        return len(self.chunk_sizes) == self.total_chunks


class TotalChunksChanged(Exception):
    """A chunk claims another total than the session was opened with."""


def chunk_key(video_id: str, index: int) -> str:
    return f"uploads/{video_id}/chunks/{index:06d}"


class UploadSessions:
    def __init__(self, collection: Collection) -> None:
        self._c = collection

    async def get(self, video_id: str) -> UploadSession | None:
        doc = await self._c.get(video_id)
        return UploadSession.model_validate(doc) if doc else None

    async def open(self, video_id: str, user_id: str, total_chunks: int) -> UploadSession:
        """The session, created on the first chunk; raises TotalChunksChanged on a mismatch."""
        session = await self.get(video_id)
        if session is None:
            try:
                fresh = UploadSession(video_id=video_id, user_id=user_id, total_chunks=total_chunks)
                await self._c.insert(video_id, fresh.model_dump())
                return fresh
            except DuplicateKey:
                session = await self.get(video_id)
                assert session is not None
        if session.total_chunks != total_chunks:
            raise TotalChunksChanged(f"this upload has {session.total_chunks} chunks, not {total_chunks}")
        return session

    async def record_chunk(self, video_id: str, index: int, size: int) -> UploadSession:
        def add(doc: Document) -> Document:
            doc["chunk_sizes"] = {**doc["chunk_sizes"], str(index): size}
            return doc

        return await self._change(video_id, add)

    async def mark_assembled(self, video_id: str) -> UploadSession:
        def mark(doc: Document) -> Document | None:
            return None if doc["assembled"] else {**doc, "assembled": True}

        return await self._change(video_id, mark)

    async def _change(self, video_id: str, change: Callable[[Document], Document | None]) -> UploadSession:
        doc = await self._c.update(video_id, change)
        if doc is None:
            raise KeyError(video_id)
        return UploadSession.model_validate(doc)
