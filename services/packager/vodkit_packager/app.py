"""Wiring of the packager: consumers of `rendition.ready` and of videos' endings (`video.deleted`, `video.failed`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from vodkit_packager.settings import PackagerSettings
from vodkit_packager.worker import Packager
from vodkit_shared.bus import Subscription
from vodkit_shared.events import RenditionReady
from vodkit_shared.failures import report_failure
from vodkit_shared.lifecycle import EndedVideos, subscribe_to_endings
from vodkit_shared.service import BUS, METADATA, STORAGE, service_app, with_resources

NAME = "packager"


def create_app(settings: PackagerSettings) -> web.Application:
    app = service_app(NAME)
    with_resources(app, settings)

    async def wire(app: web.Application) -> AsyncIterator[None]:
        ended = EndedVideos(app[METADATA].collection("packager_ended"))
        packager = Packager(app[STORAGE], app[BUS], app[METADATA].collection("packages"), ended, settings)
        await app[BUS].subscribe(
            Subscription(
                NAME, RenditionReady.TYPE, packager.on_rendition_ready, on_give_up=report_failure(app[BUS], NAME)
            )
        )
        await subscribe_to_endings(app[BUS], NAME, ended, packager.on_video_ended)
        yield

    app.cleanup_ctx.append(wire)
    return app
