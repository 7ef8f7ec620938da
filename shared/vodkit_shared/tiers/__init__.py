"""Storage tiers: the object catalogue and the storage adapter that reads and writes through it."""

from __future__ import annotations

from vodkit_shared.metadata import MetadataStore
from vodkit_shared.settings import CommonSettings
from vodkit_shared.storage import ObjectStorage, open_storage
from vodkit_shared.tiers.catalogue import TIERS, Catalogue, CatalogueEntry, Tier
from vodkit_shared.tiers.storage import TieredStorage

__all__ = ["TIERS", "Catalogue", "CatalogueEntry", "Tier", "TieredStorage", "open_object_storage"]


async def open_object_storage(settings: CommonSettings, metadata: MetadataStore | None) -> ObjectStorage:
    """The storage every service uses: tiered (with the catalogue) when tiers are configured."""
    urls = settings.resolved_tier_urls()
    if urls is None or metadata is None:
        return await open_storage(settings.resolved_storage_url())
    tiers = {tier: await open_storage(urls[tier]) for tier in TIERS}
    return TieredStorage(tiers, Catalogue(metadata), settings.access_flush_s)
