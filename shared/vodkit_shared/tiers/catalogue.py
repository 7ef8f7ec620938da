"""The object catalogue: where each object lives (hot, warm or cold), how big it is, when it was written
and when its video was last watched; and the tier-move protocol, every step of it, in this module.

One document per object in the collection `objects`, keyed by the object's key. Readers always
follow `tier`. Accesses are kept per video in `video_access`, one document per video, written at
most once per flush interval however many segments are read.

## The tier-move protocol
Two parties change an entry: every writer (each service's `TieredStorage`) and the mover of the
storage-tiering service. Each step below is one compare-and-set on the entry; the mover copies,
verifies and deletes between them, and decides nothing about the catalogue itself.

| step | by | if the entry still has | it sets |
|---|---|---|---|
| `written` | a writer | (no condition: it replaces the entry) | a fresh hot entry; the old `copies` are stale |
| `intend_move` | mover, before copying | the `tier`, `size`, `created` it found | `moving_to` |
| `switch` | mover, once the copy verified | those, and its `moving_to` | `tier`, `stale_in` = source, `sha256` |
| `abandon_move` | mover, if the copy did not verify | `moving_to` = the destination | `moving_to` = None |
| `stale_dropped` | mover, once the source copy is deleted | `stale_in` = that tier | `stale_in` = None |

So, killed between any two steps, the object is still read from exactly one place, the tier the
entry names, and the next pass finishes the job: before the switch `moving_to` records the intent
(the copy, whole or not, is not read) and the move is done again; after it `stale_in` names the
copy left to delete. A writer that replaces the object meanwhile resets its entry (`tier` hot, a new
`created`), so the move's next step no longer matches and the move is dropped with its copy. A move
that finds another move's intent deletes that copy first (`intend_move` does not compare
`moving_to`: the newer intent wins), and a writer deletes every stale copy of what it replaced.

The protocol lives here, beside the entry format, because both parties take part in it and every
service imports this module; the storage-tiering service owns the policy and the copying.
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
    moving_to: Tier | None = None  # a move's intent, recorded before its copy
    stale_in: Tier | None = None  # a switched move's source copy, left to delete

    @property
    def copies(self) -> set[Tier]:
        """Every tier that may hold a copy of the object (a move's, whole or not, included)."""
        return {tier for tier in (self.tier, self.moving_to, self.stale_in) if tier is not None}


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

    # ---- the tier-move protocol (see the module's docstring): one compare-and-set per step ----------

    async def intend_move(self, found: CatalogueEntry, destination: Tier) -> bool:
        """Record the intent to move `found` to `destination`; False if a writer replaced the object since."""
        return await self._change(found.key, _as_found(found), moving_to=destination)

    async def switch(self, found: CatalogueEntry, destination: Tier, sha256: str) -> bool:
        """The verified copy in `destination` becomes the object; False if a writer replaced it since."""
        return await self._change(
            found.key,
            {**_as_found(found), "moving_to": destination},
            tier=destination,
            moving_to=None,
            stale_in=found.tier,
            sha256=sha256,
        )

    async def abandon_move(self, key: str, destination: Tier) -> None:
        """The copy in `destination` did not verify and is gone: the intent goes too (unless another replaced it)."""
        await self._change(key, {"moving_to": destination}, moving_to=None)

    async def stale_dropped(self, key: str, tier: Tier) -> None:
        """The copy a switch left in `tier` is deleted."""
        await self._change(key, {"stale_in": tier}, stale_in=None)

    async def _change(self, key: str, expect: dict[str, object], **fields: object) -> bool:
        """Set `fields` if the entry still has the values in `expect` (compare-and-set); False otherwise."""
        matched = False

        def apply(doc: Document) -> Document | None:
            nonlocal matched
            matched = all(doc.get(name) == value for name, value in expect.items())
            return {**doc, **fields} if matched else None

        await self._objects.update(key, apply)
        return matched

    # ---- the rest --------------------------------------------------------------------------------

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


def _as_found(entry: CatalogueEntry) -> dict[str, object]:
    """What a writer's `written` changes: an entry that still has these is the object the move found."""
    return {"tier": entry.tier, "size": entry.size, "created": entry.created}
