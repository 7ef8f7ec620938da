"""Wiring of the gateway: its routes and middlewares, and one cleanup context per part it runs.

| part | what |
|---|---|
| `_videos` | the `videos` repository (`videos.Videos`), the status projection the API reads; `watermarks` |
| `_projection` | consumer of every event type: `Videos.on_event` (`videos.py`), which folds it in (`project`) |
| `_upload_expiry` | `UploadExpiry.sweep` (`expiry.py`) every `VODKIT_SWEEP_INTERVAL_S`: fails silent uploads |
| `_upload_client` | the HTTP client chunks and tus requests stream through to the upload service (`upload_proxy.py`) |
| `_user_auth` | user-token verification (`auth.UserAuth`), with its client for the identity provider's JWKS |
| `_rate_limits` | the shared counters (`ratelimit.RateLimiter`), and `forget_old_windows` once a window |
| `_webhooks` | `WebhookFanOut.on_event` (`webhooks.py`) on every event type as `gateway-webhooks`; `DeliveryLoop` |
| `_analytics` | the analytics store (the metadata DB); `SampleWriter` and `sweep` (`analytics_intake.py`) |

Middlewares, outermost first: `cors_preflight` (answers preflights before routing), `json_errors`
(from `service_app`: renders what the inner ones raise), `rate_limits` (the operation's `rate_class`),
`tus_headers`, `enforce_security` (the operation's `security`, before the handler). The keys are in
`keys.py`; the route table, which both middlewares read, in `routes.py`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from vodkit_gateway import tus
from vodkit_gateway.analytics_intake import SampleWriter, sweep
from vodkit_gateway.auth import UserAuth, enforce_security
from vodkit_gateway.browser_policy import add_headers, cors_preflight, cover_protocol_errors
from vodkit_gateway.expiry import UploadExpiry
from vodkit_gateway.jwks import JsonWebKeys
from vodkit_gateway.keys import (
    ADDRESS_GUARD,
    ANALYTICS,
    ANALYTICS_WRITER,
    CONTENT_KEYS,
    DELIVERIES,
    OPENAPI,
    RATE_LIMITER,
    SETTINGS,
    STOPPING,
    THUMBNAILS,
    TOKENS,
    UPLOAD_CLIENT,
    USER_AUTH,
    VIDEOS,
    WATERMARKS,
    WEBHOOKS,
)
from vodkit_gateway.openapi import Operation, add_routes
from vodkit_gateway.ratelimit import RateLimiter, budgets, rate_limits
from vodkit_gateway.routes import OPERATIONS, openapi_document
from vodkit_gateway.settings import GatewaySettings
from vodkit_gateway.thumbnails import Thumbnails
from vodkit_gateway.videos import Videos
from vodkit_gateway.webhook_delivery import DeliveryLoop, RetrySchedule, WebhookSender
from vodkit_gateway.webhook_guard import AddressGuard
from vodkit_gateway.webhooks import Deliveries, WebhookFanOut, Webhooks
from vodkit_shared.analytics import open_analytics
from vodkit_shared.bus import Subscription
from vodkit_shared.content_keys import ContentKeys, KeySealer
from vodkit_shared.events import EVENT_TYPES
from vodkit_shared.service import BUS, METADATA, STORAGE, running_every, service_app, with_resources
from vodkit_shared.tokens import Tokens
from vodkit_shared.watermarks import COLLECTION as WATERMARK_COLLECTION
from vodkit_shared.watermarks import Watermarks

NAME = "gateway"
WEBHOOK_CONSUMER = "gateway-webhooks"  # its own queues and dead letters
VERSION = "0.2.0"


def create_app(settings: GatewaySettings, operations: list[Operation] = OPERATIONS) -> web.Application:
    """The gateway; `operations` is its route table (tests add to it), documented and enforced alike."""
    app = service_app(NAME)
    app[SETTINGS] = settings
    app[TOKENS] = Tokens(settings.resolved_auth_secret())
    app[OPENAPI] = openapi_document(operations, VERSION, settings.max_upload_bytes)
    app[STOPPING] = asyncio.Event()
    app.on_shutdown.append(_end_streams)
    with_resources(app, settings)
    app.cleanup_ctx.extend(
        [_videos, _projection, _upload_expiry, _upload_client, _user_auth, _rate_limits, _webhooks, _analytics]
    )
    app.middlewares.insert(0, cors_preflight)
    app.middlewares.extend([rate_limits, tus.tus_headers, enforce_security])
    app.on_response_prepare.append(add_headers)
    cover_protocol_errors(app)
    add_routes(app, operations)
    return app


async def _end_streams(app: web.Application) -> None:
    """Live streams end now rather than run out their minute: shutdown waits for open requests."""
    app[STOPPING].set()


async def _videos(app: web.Application) -> AsyncIterator[None]:
    app[VIDEOS] = Videos(app[METADATA].collection("videos"))
    app[WATERMARKS] = Watermarks(app[METADATA].collection(WATERMARK_COLLECTION))  # watermarks.py
    settings = app[SETTINGS]
    sealer = KeySealer.from_setting(settings.resolved_content_key())
    app[CONTENT_KEYS] = keys = ContentKeys(app[METADATA].collection("content_keys"), sealer)
    app[THUMBNAILS] = Thumbnails(
        app[STORAGE], keys, settings.thumbnail_concurrency, settings.thumbnail_cache_entries, None
    )
    yield


async def _projection(app: web.Application) -> AsyncIterator[None]:
    for event_type in EVENT_TYPES:
        await app[BUS].subscribe(Subscription(NAME, event_type, app[VIDEOS].on_event))
    yield


async def _upload_expiry(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    expiry = UploadExpiry(app[VIDEOS], app[BUS], settings.upload_expiry_s)
    async with running_every(settings.sweep_interval_s, expiry.sweep):
        yield


async def _upload_client(app: web.Application) -> AsyncIterator[None]:
    """Bodies pass through as they are (no decompression); a chunk may take minutes to send."""
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=300)
    async with aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as client:
        app[UPLOAD_CLIENT] = client
        yield


async def _user_auth(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    async with aiohttp.ClientSession() as provider:
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


async def _webhooks(app: web.Application) -> AsyncIterator[None]:
    """Webhooks consume on queues of their own: a slow fan-out never holds back the status projection."""
    settings = app[SETTINGS]
    app[WEBHOOKS] = webhooks = Webhooks(app[METADATA].collection("webhooks"))
    app[DELIVERIES] = deliveries = Deliveries(app[METADATA].collection("webhook_deliveries"))
    app[ADDRESS_GUARD] = guard = AddressGuard(settings.webhook_allow_private)
    fan_out = WebhookFanOut(app[VIDEOS], webhooks, deliveries)
    for event_type in EVENT_TYPES:
        await app[BUS].subscribe(Subscription(WEBHOOK_CONSUMER, event_type, fan_out.on_event))
    schedule = RetrySchedule(
        settings.webhook_retry_base_s, settings.webhook_retry_max_delay_s, settings.webhook_retry_for_s
    )
    async with WebhookSender.session(guard, settings.webhook_connect_timeout_s, settings.webhook_timeout_s) as http:
        # a lease outlives any attempt, so no other replica takes a delivery while it is being sent
        lease_s = settings.webhook_timeout_s + 30
        loop = DeliveryLoop(webhooks, deliveries, WebhookSender(http), schedule, lease_s)
        async with (
            running_every(settings.webhook_interval_s, loop.run_due),
            running_every(3600, lambda: deliveries.forget_finished(time.time() - settings.webhook_log_keep_s)),
        ):
            yield


async def _analytics(app: web.Application) -> AsyncIterator[None]:
    """Player reports: stored by a writer of their own, which groups the batches of many requests in one write."""
    settings = app[SETTINGS]
    app[ANALYTICS] = store = await open_analytics(settings.resolved_db_url())
    app[ANALYTICS_WRITER] = writer = SampleWriter(store, settings.analytics_queue_samples)
    try:
        async with (
            writer.running(),
            running_every(settings.analytics_sweep_interval_s, lambda: sweep(store, settings.analytics_retention_s)),
        ):
            yield
    finally:
        await store.close()
