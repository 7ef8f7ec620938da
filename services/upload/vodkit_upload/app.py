"""Wiring of the upload service: its routes, and one cleanup context per part it runs.

| part | what |
|---|---|
| `_domain` | the sessions, the record of ended videos and the intake both HTTP edges call |
| `_assembler` | consumer of `chunk.received`: `Assembler.on_chunk_received` |
| `_endings` | consumer of `video.deleted` / `video.failed`: `ChunkIntake.close` |
| `_sweeper` | `UploadSweeper.sweep` every `VODKIT_SWEEP_INTERVAL_S` |
| `_gauges` | `UploadSessions.export_open` every `SESSIONS_EVERY_S`: the open sessions, as a metric |
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from vodkit_shared.bus import Subscription
from vodkit_shared.events import ChunkReceived
from vodkit_shared.failures import report_failure
from vodkit_shared.lifecycle import EndedVideos, subscribe_to_endings
from vodkit_shared.service import BUS, METADATA, STORAGE, running_every, service_app, with_resources
from vodkit_shared.tokens import Tokens
from vodkit_upload import tus
from vodkit_upload.assembler import Assembler
from vodkit_upload.errors import UploadRefused
from vodkit_upload.http import upload_chunk, upload_state
from vodkit_upload.intake import ChunkIntake
from vodkit_upload.keys import ENDED, INTAKE, SESSIONS, SETTINGS, TOKENS
from vodkit_upload.sessions import UploadSessions
from vodkit_upload.settings import UploadSettings
from vodkit_upload.sweeper import UploadSweeper

NAME = "upload"
SESSIONS_EVERY_S = 15.0


def create_app(settings: UploadSettings) -> web.Application:
    app = service_app(NAME)
    app[SETTINGS] = settings
    app[TOKENS] = Tokens(settings.resolved_auth_secret())
    with_resources(app, settings)
    app.cleanup_ctx.extend([_domain, _assembler, _endings, _sweeper, _gauges])
    app.router.add_post("/api/videos/upload", upload_chunk)
    app.router.add_get("/api/videos/{video_id}/upload", upload_state)
    tus.add_routes(app)
    return app


async def _domain(app: web.Application) -> AsyncIterator[None]:
    app[SESSIONS] = UploadSessions(app[METADATA].collection("upload_sessions"))
    app[ENDED] = EndedVideos(app[METADATA].collection("upload_ended"))
    app[INTAKE] = ChunkIntake(app[STORAGE], app[SESSIONS], app[BUS], app[ENDED])
    yield


async def _assembler(app: web.Application) -> AsyncIterator[None]:
    bus = app[BUS]
    assembler = Assembler(app[STORAGE], app[SESSIONS], bus, app[ENDED])
    on_give_up = report_failure(bus, NAME)
    await bus.subscribe(
        Subscription(NAME, ChunkReceived.TYPE, assembler.on_chunk_received, on_give_up, refusals=(UploadRefused,))
    )
    yield


async def _endings(app: web.Application) -> AsyncIterator[None]:
    await subscribe_to_endings(app[BUS], NAME, app[ENDED], app[INTAKE].close)
    yield


async def _sweeper(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    sweeper = UploadSweeper(app[SESSIONS], app[STORAGE], app[BUS], settings.upload_expiry_s)
    async with running_every(settings.sweep_interval_s, sweeper.sweep):
        yield


async def _gauges(app: web.Application) -> AsyncIterator[None]:
    async with running_every(SESSIONS_EVERY_S, app[SESSIONS].export_open):
        yield
