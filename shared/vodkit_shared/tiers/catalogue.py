"""The object catalogue: where each object lives (hot, warm or cold), how big it is, when it was written
and when its video was last watched.

One document per object in the collection `objects`, keyed by the object's key. A move records
its intent (`moving_to`) before copying and its leftovers (`stale_in`) after switching tiers, so a
move cut short at any step is finished by the next pass, and readers always follow `tier`.

Accesses are kept per video in `video_access`, one document per video, written at most once per
flush interval however many segments are read.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from vodkit_shared.metadata import Collection, Document, DuplicateKey, MetadataStore

Tier = Literal["hot", "warm", "cold"]
TIERS: tuple[Tier, ...] = ("hot", "warm", "cold")
UNCATALOGUED = ("uploads/",)  # chunks in flight: deleted within a day, never tiered


class CatalogueEntry(BaseModel):
    kind: Literal["object"] = "object"  # a constant field: `find("kind", "object")` lists every entry
    key: str
    video_id: str
    tier: Tier = "hot"
    size: int
    sha256: str | None = None  # known once the object has been moved (or if its writer said)
    created: float
    moving_to: Tier | None = None
    stale_in: Tier | None = None


def catalogued(key: str) -> bool:
    return not key.startswith(UNCATALOGUED)


def video_of(key: str) -> str:
    """Objects live under `{kind}/{videoId}/…`."""
    parts = key.split("/")
    return parts[1] if len(parts) > 1 else ""


class Catalogue:
    def __init__(self, store: MetadataStore) -> None:
        self._objects: Collection = store.collection("objects")
        self._access: Collection = store.collection("video_access")

    async def get(self, key: str) -> CatalogueEntry | None:
        doc = await self._objects.get(key)
        return CatalogueEntry.model_validate(doc) if doc else None

    async def entries(self) -> list[CatalogueEntry]:
        return [CatalogueEntry.model_validate(doc) for doc in await self._objects.find("kind", "object")]

    async def of_video(self, video_id: str) -> list[CatalogueEntry]:
        return [CatalogueEntry.model_validate(doc) for doc in await self._objects.find("video_id", video_id)]

    async def written(self, key: str, size: int, now: float) -> CatalogueEntry | None:
        """A writer stored `key` in hot; returns the entry as it was, if it lived elsewhere before."""
        entry = CatalogueEntry(key=key, video_id=video_of(key), size=size, created=now)
        try:
            await self._objects.insert(key, entry.model_dump())
            return None
        except DuplicateKey:
            pass
        before: list[CatalogueEntry] = []

        def rewrite(doc: Document) -> Document:
            before[:] = [CatalogueEntry.model_validate(doc)]
            return entry.model_dump()  # any move in progress is abandoned: its commit will not match

        await self._objects.update(key, rewrite)
        return before[0] if before else None

    async def change(self, key: str, expect: dict[str, object], **fields: object) -> bool:
        """Set `fields` if the entry still has the values in `expect` (compare-and-set); False otherwise."""
        matched = False

        def apply(doc: Document) -> Document | None:
            nonlocal matched
            matched = all(doc.get(name) == value for name, value in expect.items())
            return {**doc, **fields} if matched else None

        await self._objects.update(key, apply)
        return matched

    async def forget(self, key: str) -> None:
        await self._objects.delete(key)

    async def accessed(self, video_id: str, at: float) -> None:
        def later(doc: Document) -> Document | None:
            return {**doc, "at": at} if at > doc["at"] else None

        try:
            await self._access.insert(video_id, {"video_id": video_id, "at": at})
        except DuplicateKey:
            await self._access.update(video_id, later)

    async def last_access(self, video_id: str) -> float | None:
        doc = await self._access.get(video_id)
        return float(doc["at"]) if doc else None

    async def forget_video(self, video_id: str) -> None:
        for entry in await self.of_video(video_id):
            await self._objects.delete(entry.key)
        await self._access.delete(video_id)
