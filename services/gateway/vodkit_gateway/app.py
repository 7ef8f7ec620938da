"""Wiring of the gateway: its routes and middlewares, its status projection, its HTTP clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from vodkit_gateway import tus
from vodkit_gateway.api import SETTINGS, STOPPING
from vodkit_gateway.auth import TOKENS, USER_AUTH, VIDEOS, UserAuth
from vodkit_gateway.browser_policy import (
    CORS_ORIGINS,
    STRICT_TRANSPORT,
    add_headers,
    cors_preflight,
    cover_protocol_errors,
)
from vodkit_gateway.expiry import UploadExpiry
from vodkit_gateway.jwks import JsonWebKeys
from vodkit_gateway.openapi import add_routes
from vodkit_gateway.ratelimit import (
    PROXY_HOPS,
    RATE_CLASSES,
    RATE_LIMITER,
    RateLimiter,
    budgets,
    rate_classes,
    rate_limits,
)
from vodkit_gateway.routes import OPENAPI, OPERATIONS, openapi_document
from vodkit_gateway.settings import GatewaySettings
from vodkit_gateway.upload_proxy import CLIENT
from vodkit_gateway.videos import Videos
from vodkit_gateway.webpage import WEB_DIR
from vodkit_shared.bus import Subscription
from vodkit_shared.events import EVENT_TYPES
from vodkit_shared.service import BUS, METADATA, running_every, service_app, with_resources
from vodkit_shared.tokens import Tokens

NAME = "gateway"
VERSION = "0.2.0"


def create_app(settings: GatewaySettings) -> web.Application:
    app = service_app(NAME)
    app[SETTINGS] = settings
    app[TOKENS] = Tokens(settings.resolved_auth_secret())
    app[CORS_ORIGINS] = frozenset(settings.cors_origins)
    app[STRICT_TRANSPORT] = settings.public_url.startswith("https://")
    app[PROXY_HOPS] = settings.trusted_proxy_hops
    app[RATE_CLASSES] = rate_classes(OPERATIONS)
    app[WEB_DIR] = settings.web_dir
    app[OPENAPI] = openapi_document(VERSION, settings.max_upload_bytes)
    app[STOPPING] = asyncio.Event()
    app.on_shutdown.append(_end_streams)
    with_resources(app, settings)
    app.cleanup_ctx.append(_projection)
    app.cleanup_ctx.append(_http_client)
    app.cleanup_ctx.append(_rate_limits)
    # outermost first: preflights answered before anything; json_errors (from service_app) renders
    # what the inner ones raise, the 429 and tus's 412 included
    app.middlewares.insert(0, cors_preflight)
    app.middlewares.append(rate_limits)
    app.middlewares.append(tus.tus_headers)
    app.on_response_prepare.append(add_headers)
    cover_protocol_errors(app)
    add_routes(app, OPERATIONS)
    return app


async def _end_streams(app: web.Application) -> None:
    """Live streams end now rather than run out their minute: shutdown waits for open requests."""
    app[STOPPING].set()


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


async def _http_client(app: web.Application) -> AsyncIterator[None]:
    """A client for the upload service (bodies pass through as they are), one for the identity provider."""
    settings = app[SETTINGS]
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=300)
    async with (
        aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as client,
        aiohttp.ClientSession() as provider,
    ):
        app[CLIENT] = client
        jwks = JsonWebKeys(settings.jwks_url, provider) if settings.jwks_url else None
        app[USER_AUTH] = UserAuth(app[TOKENS], jwks, settings.jwt_issuer, settings.jwt_audience)
        yield


async def _rate_limits(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if not settings.rate_limits_enabled:
        yield
        return
    limiter = RateLimiter(app[METADATA].collection("rate_limits"), budgets(settings))
    app[RATE_LIMITER] = limiter
    async with running_every(settings.rate_limit_window_s, limiter.forget_old_windows):
        yield
