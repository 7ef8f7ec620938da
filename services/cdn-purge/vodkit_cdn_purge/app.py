"""Wiring of cdn-purge: one cleanup context per part it runs.

| part | what |
|---|---|
| `_http_client` | the one HTTP client every purge request goes through |
| `_domain` | the cache nodes (none configured: nothing is purged) and the `Purger` |
| `_purges` | consumer of `package.done` / `subtitles.published` / `video.deleted`: `Purger.on_event` |
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from vodkit_cdn_purge.keys import HTTP_CLIENT, PURGER, SETTINGS
from vodkit_cdn_purge.providers import HttpCacheNodes
from vodkit_cdn_purge.purger import Purger
from vodkit_cdn_purge.settings import CdnPurgeSettings
from vodkit_shared.bus import Subscription
from vodkit_shared.events import PackageDone, SubtitlesPublished, VideoDeleted
from vodkit_shared.service import BUS, service_app, with_resources

NAME = "cdn-purge"


def create_app(settings: CdnPurgeSettings) -> web.Application:
    app = service_app(NAME)
    app[SETTINGS] = settings
    with_resources(app, settings, storage=False, metadata=False)
    app.cleanup_ctx.extend([_http_client, _domain, _purges])
    return app


async def _http_client(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession() as client:
        app[HTTP_CLIENT] = client
        yield


async def _domain(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    nodes = settings.cdn_nodes
    provider = HttpCacheNodes(nodes, app[HTTP_CLIENT], settings.cdn_method, settings.cdn_timeout_s) if nodes else None
    app[PURGER] = Purger(provider, app[BUS])
    yield


async def _purges(app: web.Application) -> AsyncIterator[None]:
    for event_type in (PackageDone.TYPE, SubtitlesPublished.TYPE, VideoDeleted.TYPE):
        await app[BUS].subscribe(Subscription(NAME, event_type, app[PURGER].on_event))
    yield
