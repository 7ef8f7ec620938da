"""Tiered object storage: the storage port over three stores (hot, warm, cold) and the catalogue.

Every service opens this when tiers are configured, so the pipeline never knows where an object
lives: writes go to hot and are catalogued, reads follow the catalogue (an object it lacks is in
hot), and deletes remove every copy in every tier. Which tier an object should be in is decided
elsewhere, by the storage-tiering service, which moves objects between the stores given here.

Reads note which video was accessed; the notes are written to the catalogue in one batch every
`access_flush_s`, not once per segment served.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from vodkit_shared.storage import ObjectNotFound, ObjectStorage
from vodkit_shared.tiers.catalogue import TIERS, Catalogue, Tier, catalogued, video_of

log = logging.getLogger(__name__)


class TieredStorage(ObjectStorage):
    def __init__(
        self,
        tiers: dict[Tier, ObjectStorage],
        catalogue: Catalogue,
        access_flush_s: float = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.tiers = tiers
        self.catalogue = catalogue
        self._clock = clock
        self._access_flush_s = access_flush_s
        self._accessed: dict[str, float] = {}
        self._flusher: asyncio.Task[None] | None = None

    # ---- writes: to hot, catalogued ------------------------------------------------------------

    async def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> None:
        size = (await asyncio.to_thread(path.stat)).st_size
        await self.tiers["hot"].put_file(key, path, content_type)
        await self._written(key, size)

    async def adopt_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> None:
        size = (await asyncio.to_thread(path.stat)).st_size  # before: adopting may move the file away
        await self.tiers["hot"].adopt_file(key, path, content_type)
        await self._written(key, size)

    async def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        await self.tiers["hot"].put_bytes(key, data, content_type)
        await self._written(key, len(data))

    async def compose(self, key: str, sources: list[str]) -> int:
        size = await self.tiers["hot"].compose(key, sources)  # sources are upload chunks, always in hot
        await self._written(key, size)
        return size

    async def _written(self, key: str, size: int) -> None:
        if not catalogued(key):
            return
        before = await self.catalogue.written(key, size, self._clock())
        if before is not None:  # copies of what this write replaced, elsewhere, are stale now
            for tier in before.copies - {"hot"}:
                await self.tiers[tier].delete(key)

    # ---- reads: wherever the catalogue says ----------------------------------------------------

    async def _tier(self, key: str) -> Tier:
        entry = await self.catalogue.get(key) if catalogued(key) else None
        return entry.tier if entry else "hot"

    async def _read_through(self, key: str) -> tuple[Tier, ObjectStorage]:
        tier = await self._tier(key)
        return tier, self.tiers[tier]

    async def get_file(self, key: str, path: Path) -> None:
        tier, store = await self._read_through(key)
        try:
            await store.get_file(key, path)
        except ObjectNotFound:  # moved between the lookup and the read: look again
            if (again := await self._tier(key)) == tier:
                raise
            await self.tiers[again].get_file(key, path)
        self._note_access(key)

    async def stream(self, key: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        tier, store = await self._read_through(key)
        chunks = store.stream(key, offset, length)
        try:
            first = await anext(chunks, b"")
        except ObjectNotFound:
            if (again := await self._tier(key)) == tier:
                raise
            chunks = self.tiers[again].stream(key, offset, length)
            first = await anext(chunks, b"")
        self._note_access(key)
        if first:
            yield first
        async for chunk in chunks:
            yield chunk

    async def size(self, key: str) -> int | None:
        tier, store = await self._read_through(key)
        size = await store.size(key)
        if size is None and (again := await self._tier(key)) != tier:
            size = await self.tiers[again].size(key)
        return size

    async def readable_location(self, key: str) -> str:
        _, store = await self._read_through(key)
        return await store.readable_location(key)

    async def keys(self, prefix: str) -> list[str]:
        found: set[str] = set()
        for store in self.tiers.values():
            found.update(await store.keys(prefix))
        return sorted(found)

    # ---- deletes: every copy ---------------------------------------------------------------------

    async def delete(self, key: str) -> None:
        for store in self.tiers.values():
            await store.delete(key)
        if catalogued(key):
            await self.catalogue.forget(key)

    async def delete_prefix(self, prefix: str) -> int:
        keys = await self.keys(prefix)
        for key in keys:
            await self.delete(key)
        video = video_of(prefix)
        if video and prefix.count("/") == 2 and catalogued(prefix):  # `{kind}/{videoId}/`: entries missed too
            for entry in await self.catalogue.of_video(video):
                if entry.key.startswith(prefix):
                    await self.catalogue.forget(entry.key)
        return len(keys)

    # ---- last access, batched ------------------------------------------------------------------

    def _note_access(self, key: str) -> None:
        if catalogued(key) and (video := video_of(key)):
            self._accessed[video] = self._clock()
            if self._flusher is None or self._flusher.done():
                self._flusher = asyncio.create_task(self._flush_later(), name="catalogue access flush")

    async def _flush_later(self) -> None:
        await asyncio.sleep(self._access_flush_s)
        await self.flush_accesses()

    async def flush_accesses(self) -> None:
        batch, self._accessed = self._accessed, {}
        for video, at in batch.items():
            try:
                await self.catalogue.accessed(video, at)
            except Exception:
                log.exception("could not record an access; it will be missed", extra={"videoId": video})

    async def ping(self) -> None:
        for tier in TIERS:
            await self.tiers[tier].ping()

    async def close(self) -> None:
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self.flush_accesses()
        for tier in TIERS:
            await self.tiers[tier].close()
