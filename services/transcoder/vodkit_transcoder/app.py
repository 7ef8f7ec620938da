"""Wiring of the transcoder: one consumer of `video.assembled`."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from vodkit_shared.bus import Subscription
from vodkit_shared.events import VideoAssembled
from vodkit_shared.failures import report_failure
from vodkit_shared.service import BUS, METADATA, STORAGE, service_app, with_resources
from vodkit_transcoder.settings import TranscoderSettings
from vodkit_transcoder.worker import Transcoder

NAME = "transcoder"


def create_app(settings: TranscoderSettings) -> web.Application:
    app = service_app(NAME)
    with_resources(app, settings)

    async def wire(app: web.Application) -> AsyncIterator[None]:
        transcoder = Transcoder(app[STORAGE], app[BUS], app[METADATA].collection("transcode_jobs"), settings)
        await app[BUS].subscribe(
            Subscription(
                NAME, VideoAssembled.TYPE, transcoder.on_video_assembled, on_give_up=report_failure(app[BUS], NAME)
            )
        )
        yield

    app.cleanup_ctx.append(wire)
    return app
