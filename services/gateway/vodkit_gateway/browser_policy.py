"""What browsers are told: which other origins may call the API (CORS), and security headers.

Playback objects are open to every origin (`*`): the token in their URL is what grants access,
and players on other sites must be able to fetch them (a Range request is preflighted). The API
answers cross-origin requests only from the origins in VODKIT_CORS_ORIGINS (none by default: the
web page is same-origin).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from aiohttp import web

from vodkit_gateway.keys import SETTINGS

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_EXPOSED = (
    "Location, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, RateLimit-Policy, "
    "Upload-Offset, Upload-Length, Upload-Expires, Tus-Resumable, Tus-Version, Tus-Extension, Tus-Max-Size, "
    "Tus-Checksum-Algorithm, Content-Range, Accept-Ranges, ETag"
)
_ALLOWED_HEADERS = (
    "Authorization, Content-Type, Range, Upload-Offset, Upload-Length, Upload-Metadata, Upload-Checksum, "
    "Upload-Defer-Length, Tus-Resumable, X-HTTP-Method-Override, If-None-Match"
)
_SECURITY = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
_NOTHING_ALLOWED = "default-src 'none'; frame-ancestors 'none'"  # what any answer but the web page may load
PLAYBACK_PREFIX = "/videos/"
_PLAYBACK_PREFLIGHT = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": "Range",
    "Access-Control-Max-Age": "86400",
}
# The web page loads its own scripts only; hls.js runs a worker from a blob: URL and feeds the
# <video> through MediaSource (blob:), and posters and storyboards are images from this origin.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'; object-src 'none'"
)


def _cors_allowed(request: web.Request) -> str | None:
    origin = request.headers.get("Origin")
    if origin is not None and origin in request.app[SETTINGS].cors_origins and request.path.startswith("/api/"):
        return origin
    return None


@web.middleware
async def cors_preflight(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer a CORS preflight before routing (which knows no OPTIONS): from any origin for playback
    objects, from an allowed origin for the API."""
    preflight = request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers
    if preflight and request.path.startswith(PLAYBACK_PREFIX):
        return web.Response(status=204, headers=_PLAYBACK_PREFLIGHT)
    if preflight and _cors_allowed(request):
        return web.Response(
            status=204,
            headers={
                "Access-Control-Allow-Methods": "GET, POST, PATCH, DELETE, HEAD, OPTIONS",
                "Access-Control-Allow-Headers": _ALLOWED_HEADERS,
                "Access-Control-Max-Age": "600",
            },
        )
    return await handler(request)


async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every response gets them, streamed ones and errors included."""
    origin = _cors_allowed(request)
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = _EXPOSED
        response.headers.add("Vary", "Origin")
    for name, value in _SECURITY.items():
        response.headers.setdefault(name, value)
    if request.app[SETTINGS].strict_transport:
        response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    response.headers.setdefault("Content-Security-Policy", _NOTHING_ALLOWED)


def cover_protocol_errors(app: web.Application) -> None:
    """Security headers on the answers aiohttp gives by itself, too.

    aiohttp answers a malformed request (a header over 8 KiB, a broken request line) before any
    route matches, so neither middlewares nor `on_response_prepare` see that answer. A Request
    subclass (the `_cls` hook of aiohttp's own request factory) adds the headers to those answers.
    """

    class CoveredRequest(web.Request):
        async def _prepare_hook(self, response: web.StreamResponse) -> None:
            if self._match_info is None:  # not routed: aiohttp's own error answer
                for name, value in {**_SECURITY, "Content-Security-Policy": _NOTHING_ALLOWED}.items():
                    response.headers.setdefault(name, value)
            await super()._prepare_hook(response)

    app._make_request = functools.partial(app._make_request, _cls=CoveredRequest)  # type: ignore[method-assign]
