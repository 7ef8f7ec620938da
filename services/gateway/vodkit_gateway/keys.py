"""The gateway's typed keys: what `app.py` wires and the middlewares and handlers read.

| key | holds | set by |
|---|---|---|
| `SETTINGS` | `GatewaySettings`, read where a setting is used (CORS origins, proxy hops…) | `create_app` |
| `OPERATIONS` | the route table by (method, OpenAPI path), as the middlewares read it | `openapi.add_routes` |
| `OPENAPI` | the document made of the same table | `create_app` |
| `STOPPING` | set on shutdown: open streams end at once | `create_app` |
| `TOKENS` | vodkit's own tokens (user, upload, playback) | `create_app` |
| `VIDEOS` | the `videos` repository (the status projection) | `app._videos` |
| `CONTENT_KEYS` | encrypted videos' policies and AES keys (sealed), handed to players | `app._videos` |
| `USER_AUTH` | user-token verification, with the identity provider's keys | `app._user_auth` |
| `UPLOAD_CLIENT` | the HTTP client for the upload service | `app._upload_client` |
| `RATE_LIMITER` | the shared rate-limit counters (absent when limits are off) | `app._rate_limits` |
| `WEBHOOKS`, `DELIVERIES`, `ADDRESS_GUARD` | webhooks, their deliveries, which URLs they may call | `app._webhooks` |
| `ANALYTICS`, `ANALYTICS_WRITER` | playback samples and figures; the writer storing reports | `app._analytics` |
| `WATERMARKS` | users' default and videos' own watermarks (`watermarks.py`) | `app._videos` |

Per request: `CALLER` (the user the operation's scheme verified, None for an anonymous
`optional_user`) and `UPLOAD_GRANT` (the upload token's grant), both set by `auth.enforce_security`
before the handler runs; `VERIFIED_USER`, the one verification of a request's user token.

The value types are imported for the type checker only: every gateway module may import this one,
the modules those types come from included, without an import cycle.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    import aiohttp

    from vodkit_gateway.analytics_intake import SampleWriter
    from vodkit_gateway.auth import UserAuth
    from vodkit_gateway.openapi import OperationTable
    from vodkit_gateway.ratelimit import RateLimiter
    from vodkit_gateway.settings import GatewaySettings
    from vodkit_gateway.thumbnails import Thumbnails
    from vodkit_gateway.videos import Videos
    from vodkit_gateway.webhook_guard import AddressGuard
    from vodkit_gateway.webhooks import Deliveries, Webhooks
    from vodkit_shared.analytics import AnalyticsStore
    from vodkit_shared.content_keys import ContentKeys
    from vodkit_shared.tokens import TokenError, Tokens, UploadGrant
    from vodkit_shared.watermarks import Watermarks

SETTINGS: web.AppKey[GatewaySettings] = web.AppKey("gateway_settings")
OPERATIONS: web.AppKey[OperationTable] = web.AppKey("operations")
OPENAPI: web.AppKey[dict[str, Any]] = web.AppKey("openapi")
STOPPING: web.AppKey[asyncio.Event] = web.AppKey("stopping")
TOKENS: web.AppKey[Tokens] = web.AppKey("tokens")
VIDEOS: web.AppKey[Videos] = web.AppKey("videos")
THUMBNAILS: web.AppKey[Thumbnails] = web.AppKey("thumbnails")
CONTENT_KEYS: web.AppKey[ContentKeys] = web.AppKey("content_keys")
USER_AUTH: web.AppKey[UserAuth] = web.AppKey("user_auth")
UPLOAD_CLIENT: web.AppKey[aiohttp.ClientSession] = web.AppKey("upload_client")
RATE_LIMITER: web.AppKey[RateLimiter] = web.AppKey("rate_limiter")
WEBHOOKS: web.AppKey[Webhooks] = web.AppKey("webhooks")
DELIVERIES: web.AppKey[Deliveries] = web.AppKey("webhook_deliveries")
ADDRESS_GUARD: web.AppKey[AddressGuard] = web.AppKey("webhook_address_guard")
ANALYTICS: web.AppKey[AnalyticsStore] = web.AppKey("analytics")
ANALYTICS_WRITER: web.AppKey[SampleWriter] = web.AppKey("analytics_writer")
WATERMARKS: web.AppKey[Watermarks] = web.AppKey("watermarks")

CALLER: web.RequestKey[str | None] = web.RequestKey("caller")
UPLOAD_GRANT: web.RequestKey[UploadGrant] = web.RequestKey("upload_grant")
VERIFIED_USER: web.RequestKey[str | TokenError] = web.RequestKey("verified_user")
