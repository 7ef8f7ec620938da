"""Wiring of the gateway: its routes, its status projection consumer, its HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from vodkit_gateway import tus
from vodkit_gateway.api import SETTINGS, create_video, renew_upload_token, video_details, video_status
from vodkit_gateway.auth import TOKENS, VIDEOS
from vodkit_gateway.expiry import UploadExpiry
from vodkit_gateway.playback import serve_hls
from vodkit_gateway.settings import GatewaySettings
from vodkit_gateway.upload_proxy import CLIENT, forward_upload, forward_upload_state
from vodkit_gateway.videos import Videos
from vodkit_shared.bus import Subscription
from vodkit_shared.events import EVENT_TYPES
from vodkit_shared.service import BUS, METADATA, running_every, service_app, with_resources
from vodkit_shared.tokens import Tokens

NAME = "gateway"


def create_app(settings: GatewaySettings) -> web.Application:
    app = service_app(NAME)
    app[SETTINGS] = settings
    app[TOKENS] = Tokens(settings.resolved_auth_secret())
    with_resources(app, settings)
    app.cleanup_ctx.append(_projection)
    app.cleanup_ctx.append(_upload_client)
    app.router.add_post("/api/videos", create_video)
    app.router.add_post("/api/videos/upload", forward_upload)
    app.router.add_get("/api/videos/{video_id}/upload", forward_upload_state)
    app.router.add_post("/api/videos/{video_id}/upload-token", renew_upload_token)
    app.router.add_get("/api/videos/{video_id}/status", video_status)
    app.router.add_get("/api/videos/{video_id}", video_details)
    app.router.add_get("/play/{token}/{path:.+}", serve_hls)
    app.middlewares.append(tus.tus_headers)  # inside json_errors, so its 412 is rendered too
    tus.add_routes(app)
    return app


async def _projection(app: web.Application) -> AsyncIterator[None]:
    collection = app[METADATA].collection("videos")
    videos = Videos(collection)
    app[VIDEOS] = videos
    for event_type in EVENT_TYPES:
        await app[BUS].subscribe(Subscription(NAME, event_type, videos.on_event))
    settings = app[SETTINGS]
    expiry = UploadExpiry(collection, app[BUS], settings.upload_expiry_s)
    async with running_every(settings.sweep_interval_s, expiry.sweep):
        yield


async def _upload_client(app: web.Application) -> AsyncIterator[None]:
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=300)
    async with aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as client:
        app[CLIENT] = client
        yield
