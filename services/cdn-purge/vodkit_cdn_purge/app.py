"""Wiring of cdn-purge: `package.done` and `video.deleted` in, purges out, through one HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from vodkit_cdn_purge.providers import HttpCacheNodes
from vodkit_cdn_purge.purger import Purger
from vodkit_cdn_purge.settings import CdnPurgeSettings
from vodkit_shared.bus import Subscription
from vodkit_shared.events import PackageDone, VideoDeleted
from vodkit_shared.service import BUS, service_app, with_resources

NAME = "cdn-purge"


def create_app(settings: CdnPurgeSettings) -> web.Application:
    app = service_app(NAME)
    with_resources(app, settings, storage=False, metadata=False)

    async def wire(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as client:
            provider = (
                HttpCacheNodes(settings.cdn_nodes, client, settings.cdn_method, settings.cdn_timeout_s)
                if settings.cdn_nodes
                else None
            )
            purger = Purger(provider, app[BUS])
            for event_type in (PackageDone.TYPE, VideoDeleted.TYPE):
                await app[BUS].subscribe(Subscription(NAME, event_type, purger.on_event))
            yield

    app.cleanup_ctx.append(wire)
    return app
