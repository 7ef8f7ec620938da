"""Wiring of storage-tiering: a pass every `tier_interval_s`, and cleanup after `video.deleted`.

It records each deleted video, so that every pass also removes objects a late write left for one.

The catalogue is written by every service's storage (writes are catalogued as they happen); this
service reads it, moves objects between the tiers, and owns the policy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

from aiohttp import web

from vodkit_shared.bus import MessageBus
from vodkit_shared.lifecycle import EndedVideos, Ending, OnEnd, object_prefixes, subscribe_to_endings
from vodkit_shared.metadata import MetadataStore
from vodkit_shared.service import BUS, METADATA, STORAGE, running_every, service_app, with_resources
from vodkit_shared.tiers import TieredStorage
from vodkit_tiering.mover import Mover
from vodkit_tiering.orphans import OrphanSweep
from vodkit_tiering.policy import TierPolicy
from vodkit_tiering.settings import TieringSettings
from vodkit_tiering.throttle import Throttle
from vodkit_tiering.tiering import Tiering

NAME = "storage-tiering"
log = logging.getLogger(__name__)
TIERING = web.AppKey("tiering", Tiering)


def create_app(settings: TieringSettings) -> web.Application:
    app = service_app(NAME)
    with_resources(app, settings)

    async def wire(app: web.Application) -> AsyncIterator[None]:
        storage = app[STORAGE]
        if not isinstance(storage, TieredStorage):
            log.warning("no tiers configured (VODKIT_TIER_WARM_URL, VODKIT_TIER_COLD_URL): nothing to move")
            yield
            return
        tiering = build_tiering(settings, storage, app[METADATA], app[BUS])
        app[TIERING] = tiering
        await subscribe_to_endings(app[BUS], NAME, ended_videos(app[METADATA]), _forget(storage), failures=False)
        async with running_every(settings.tier_interval_s, lambda: tiering.run_pass(time.time())):
            yield

    app.cleanup_ctx.append(wire)
    return app


def build_tiering(
    settings: TieringSettings, storage: TieredStorage, metadata: MetadataStore, bus: MessageBus | None
) -> Tiering:
    policy = TierPolicy(settings.tier_warm_after_days, settings.tier_cold_after_days, settings.tier_promote_on_access)
    mover = Mover(storage.tiers, storage.catalogue, Throttle(settings.tier_bytes_per_s))
    orphans = OrphanSweep(storage, ended_videos(metadata))
    return Tiering(storage.catalogue, mover, policy, bus, settings.tier_concurrency, orphans)


def ended_videos(metadata: MetadataStore) -> EndedVideos:
    return EndedVideos(metadata.collection("tiering_ended"))


def _forget(storage: TieredStorage) -> OnEnd:
    async def handle(video_id: str, _: Ending) -> None:
        """The gateway deleted the video's objects; remove any copy a move had in flight, and its entries."""
        for prefix in object_prefixes(video_id):
            await storage.delete_prefix(prefix)
        await storage.catalogue.forget_video(video_id)

    return handle
