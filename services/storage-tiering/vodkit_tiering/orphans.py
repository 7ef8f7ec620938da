"""Objects whose video was deleted: a write that raced the deletion (a late rendition, a re-sent chunk
that was assembled) would leave objects nobody can delete. Each pass finds and removes them.

The service records every `video.deleted` it hears; an object in the catalogue whose video is among
them is an orphan, in whichever tier it is. On the event itself (`on_video_deleted`) it removes at
once any copy a move had in flight, and the video's entries.
"""

from __future__ import annotations

import logging

from vodkit_shared.lifecycle import EndedVideos, Ending, object_prefixes
from vodkit_shared.tiers import CatalogueEntry, TieredStorage

log = logging.getLogger(__name__)


class OrphanSweep:
    def __init__(self, storage: TieredStorage, ended: EndedVideos) -> None:
        self._storage = storage
        self._ended = ended

    async def sweep(self, entries: list[CatalogueEntry]) -> list[CatalogueEntry]:
        """Remove the orphans among `entries` from every tier and the catalogue; returns them."""
        deleted = await self._ended.deleted()
        orphans = [entry for entry in entries if entry.video_id in deleted]
        for entry in orphans:
            await self._storage.delete(entry.key)
            log.warning(
                "removed an object of a deleted video",
                extra={"videoId": entry.video_id, "key": entry.key, "tier": entry.tier, "size": entry.size},
            )
        return orphans

    async def on_video_deleted(self, video_id: str, _: Ending) -> None:
        """The gateway deleted the video's objects; remove any copy a move had in flight, and its entries."""
        for prefix in object_prefixes(video_id):
            await self._storage.delete_prefix(prefix)
        await self._storage.catalogue.forget_video(video_id)
