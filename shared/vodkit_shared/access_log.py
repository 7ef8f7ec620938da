"""One access log line per HTTP request, and the request's log context.

The `access_log` middleware, first in `service_app`'s chain, binds the request's log context
(service, request id, and the video of a route with `{video_id}`) for everything logged while the
request runs. aiohttp writes the line once the answer is sent, through `AccessLine` (the runners
pass it as `access_log_class`), so the status and bytes are those the client got (a file answer
that became 206 or 304 as it was sent, the 500 of an error no middleware rendered):

    {"msg": "GET /api/videos/{video_id}/status 200", "method": "GET", "route": "/api/videos/{video_id}/status",
     "status": 200, "durationMs": 3.2, "bytes": 412, "service": "gateway", "requestId": "…", "videoId": "…", …}

The route is the canonical one, never the URL: playback tokens travel in the query (`?token=`), and
no header (Authorization, cookies) is written. `bytes` counts what was sent, headers included, as
aiohttp's own access log does. The request id is the caller's `X-Request-Id` when it is a sane one
(1 to 128 of `A-Z a-z 0-9 . _ : -`), else a new one; every answer carries it back. The operations
routes (/healthz, /readyz, /metrics: probes and scrapers, every few seconds) log at DEBUG. A request
cancelled before it is answered (the service stops) gets no line.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.typedefs import Middleware
from aiohttp.web_fileresponse import NOSENDFILE

from vodkit_shared import log_context

ACCESS_LOG = logging.getLogger("vodkit.access")
REQUEST_ID_HEADER = "X-Request-Id"
OPS_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
# What the line is written with, kept on the request: aiohttp writes it after the middlewares have returned.
LOG_FIELDS = web.RequestKey("log_fields", Mapping[str, str])
ROUTE = web.RequestKey("route", str)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def request_id(request: web.BaseRequest) -> str:
    """The caller's `X-Request-Id` if it is safe to log and pass on; otherwise a new one."""
    given = request.headers.get(REQUEST_ID_HEADER, "")
    return given if log_context.SAFE_ID.fullmatch(given) else uuid.uuid4().hex


def access_log_for(service: str) -> Middleware:
    """The middleware of one service's app (its name is bound on each of its requests' lines)."""

    @web.middleware
    async def access_log(request: web.Request, handler: Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        request[ROUTE] = resource.canonical if resource is not None else "unmatched"
        with log_context.binding(service=service, requestId=request_id(request)):
            video_id = request.match_info.get("video_id")
            if video_id is not None:
                log_context.bind_video(video_id)
            request[LOG_FIELDS] = log_context.bound()
            try:
                return await handler(request)
            finally:
                request[LOG_FIELDS] = log_context.bound()  # with what the handler bound (a video it read)

    return access_log


def request_id_header_for(service: str) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    """on_response_prepare: every answer names its request id, streamed ones and those answered
    before the middleware (a CORS preflight) too."""

    async def request_id_header(request: web.Request, response: web.StreamResponse) -> None:
        if LOG_FIELDS not in request:
            request[LOG_FIELDS] = {"service": service, "requestId": request_id(request)}
        response.headers[REQUEST_ID_HEADER] = request[LOG_FIELDS]["requestId"]

    return request_id_header


class AccessLine(AbstractAccessLogger):
    """aiohttp's access logger, writing vodkit's line (`access_log_class=AccessLine, access_log=ACCESS_LOG`)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        route = request.get(ROUTE, "unmatched")
        level = logging.DEBUG if route in OPS_ROUTES else logging.INFO
        if not self.logger.isEnabledFor(level):
            return
        with log_context.binding(**request.get(LOG_FIELDS, {})):
            self.logger.log(
                level,
                "%s %s %s",
                request.method,
                route,
                response.status,
                extra={
                    "method": request.method,
                    "route": route,
                    "status": response.status,
                    "durationMs": round(time * 1000, 1),
                    "bytes": bytes_sent(request, response),
                },
            )


def bytes_sent(request: web.BaseRequest, response: web.StreamResponse) -> int:
    """What went out, headers included; a file sent by `sendfile` (the web page's) bypasses aiohttp's count."""
    sent = response.body_length
    by_kernel = isinstance(response, web.FileResponse) and not (NOSENDFILE or response.compression)
    if by_kernel and request.method != "HEAD" and response.status in (200, 206):
        sent += response.content_length or 0
    return sent


def name_service_lines(app: web.Application, service: str) -> None:
    """What the app's own tasks log (consumers, sweeps, job runners) names the service.

    Bound by the first cleanup context, so the tasks the later ones start copy it; bound again at
    shutdown, before the contexts are torn down, for what they log then. Never reset: aiohttp may
    tear the app down in another task (a test's fixture), where a reset would fail. `vodkit up` starts
    the six apps one after another and stops them one after another, so each gets its own name."""

    async def ctx(_: web.Application) -> AsyncIterator[None]:
        log_context.bind(service=service)
        yield

    async def stopping(_: web.Application) -> None:
        log_context.bind(service=service)

    app.cleanup_ctx.append(ctx)
    app.on_shutdown.append(stopping)
