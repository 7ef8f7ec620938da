"""Wiring of storage-tiering: one cleanup context per part it runs.

| part | what |
|---|---|
| `_domain` | `build_tiering`: the `Tiering` (policy, mover, throttle), the orphan sweep; nothing without tiers |
| `_deletions` | consumer of `video.deleted`: `OrphanSweep.on_video_deleted` |
| `_passes` | `Tiering.run_pass` every `VODKIT_TIER_INTERVAL_S` |

The catalogue is written by every service's storage (writes are catalogued as they happen); this
service reads it, moves objects between the tiers, and owns the policy. It records each deleted
video, so that every pass also removes objects a late write left for one.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from vodkit_shared.bus import MessageBus
from vodkit_shared.lifecycle import EndedVideos, subscribe_to_endings
from vodkit_shared.metadata import MetadataStore
from vodkit_shared.service import BUS, METADATA, STORAGE, running_every, service_app, with_resources
from vodkit_shared.tiers import TieredStorage
from vodkit_tiering.keys import ENDED, ORPHANS, SETTINGS, TIERING
from vodkit_tiering.mover import Mover
from vodkit_tiering.orphans import OrphanSweep
from vodkit_tiering.policy import TierPolicy
from vodkit_tiering.settings import TieringSettings
from vodkit_tiering.throttle import Throttle
from vodkit_tiering.tiering import Tiering

NAME = "storage-tiering"
log = logging.getLogger(__name__)


def create_app(settings: TieringSettings) -> web.Application:
    app = service_app(NAME)
    app[SETTINGS] = settings
    with_resources(app, settings)
    app.cleanup_ctx.extend([_domain, _deletions, _passes])
    return app


async def _domain(app: web.Application) -> AsyncIterator[None]:
    storage = app[STORAGE]
    if isinstance(storage, TieredStorage):
        app[ENDED] = ended_videos(app[METADATA])
        app[ORPHANS] = OrphanSweep(storage, app[ENDED])
        app[TIERING] = build_tiering(app[SETTINGS], storage, app[METADATA], app[BUS], app[ORPHANS])
    else:  # the other parts find no TIERING and run nothing
        log.warning("no tiers configured (VODKIT_TIER_WARM_URL, VODKIT_TIER_COLD_URL): nothing to move")
    yield


async def _deletions(app: web.Application) -> AsyncIterator[None]:
    if TIERING in app:
        await subscribe_to_endings(app[BUS], NAME, app[ENDED], app[ORPHANS].on_video_deleted, failures=False)
    yield


async def _passes(app: web.Application) -> AsyncIterator[None]:
    if TIERING not in app:
        yield
        return
    async with running_every(app[SETTINGS].tier_interval_s, app[TIERING].run_pass):
        yield


def build_tiering(
    settings: TieringSettings,
    storage: TieredStorage,
    metadata: MetadataStore,
    bus: MessageBus | None,
    orphans: OrphanSweep | None = None,
) -> Tiering:
    """The tiering of a pass, for the service and for `vodkit tier run` alike."""
    policy = TierPolicy(settings.tier_warm_after_days, settings.tier_cold_after_days, settings.tier_promote_on_access)
    mover = Mover(storage.tiers, storage.catalogue, Throttle(settings.tier_bytes_per_s))
    orphans = orphans or OrphanSweep(storage, ended_videos(metadata))
    return Tiering(storage.catalogue, mover, policy, bus, settings.tier_concurrency, orphans)


def ended_videos(metadata: MetadataStore) -> EndedVideos:
    """The videos this service heard were deleted (collection `tiering_ended`)."""
    return EndedVideos(metadata.collection("tiering_ended"))
