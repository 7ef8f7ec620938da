"""Wiring of the upload service: its HTTP route and its assembler consumer."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from vodkit_shared.bus import Subscription
from vodkit_shared.events import ChunkReceived
from vodkit_shared.failures import report_failure
from vodkit_shared.lifecycle import EndedVideos, Ending, subscribe_to_endings
from vodkit_shared.service import BUS, METADATA, STORAGE, running_every, service_app, with_resources
from vodkit_shared.tokens import Tokens
from vodkit_upload import tus
from vodkit_upload.assembler import Assembler, source_key
from vodkit_upload.http import INTAKE, SESSIONS, SETTINGS, TOKENS, upload_chunk, upload_state
from vodkit_upload.intake import ChunkIntake
from vodkit_upload.sessions import UploadSessions, chunks_prefix
from vodkit_upload.settings import UploadSettings
from vodkit_upload.sweeper import UploadSweeper

NAME = "upload"
log = logging.getLogger(__name__)


def create_app(settings: UploadSettings) -> web.Application:
    app = service_app(NAME)
    app[SETTINGS] = settings
    app[TOKENS] = Tokens(settings.resolved_auth_secret())
    with_resources(app, settings)
    app.cleanup_ctx.append(_wire)
    app.router.add_post("/api/videos/upload", upload_chunk)
    app.router.add_get("/api/videos/{video_id}/upload", upload_state)
    tus.add_routes(app)
    return app


async def _wire(app: web.Application) -> AsyncIterator[None]:
    storage, bus = app[STORAGE], app[BUS]
    settings = app[SETTINGS]
    sessions = UploadSessions(app[METADATA].collection("upload_sessions"))
    ended = EndedVideos(app[METADATA].collection("upload_ended"))
    app[SESSIONS] = sessions
    app[INTAKE] = ChunkIntake(storage, sessions, bus, ended)
    assembler = Assembler(storage, sessions, bus, ended)
    await bus.subscribe(
        Subscription(NAME, ChunkReceived.TYPE, assembler.on_chunk_received, on_give_up=report_failure(bus, NAME))
    )

    async def close_upload(video_id: str, ending: Ending) -> None:
        """The video ended: its upload takes nothing more, and its chunks (and, if deleted, its original) go."""
        await storage.delete_prefix(chunks_prefix(video_id))
        await sessions.delete(video_id)
        if ending == "deleted":
            await storage.delete(source_key(video_id))  # an assembly racing the delete may have written it

    await subscribe_to_endings(bus, NAME, ended, close_upload)
    sweeper = UploadSweeper(sessions, storage, bus, settings.upload_expiry_s)
    async with running_every(settings.sweep_interval_s, sweeper.sweep):
        yield
