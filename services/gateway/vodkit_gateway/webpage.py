"""The web page and the analytics dashboard: HTML, scripts and styles, hls.js and Chart.js from the npm registry.

The page is same-origin with the API, so it needs no CORS, and a strict Content-Security-Policy
(only this origin's scripts) applies to it.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from vodkit_gateway.browser_policy import PAGE_POLICY
from vodkit_gateway.keys import SETTINGS
from vodkit_shared.service import ApiError

ASSETS = {
    "app.js": ("app.js", "text/javascript"),
    "playback-report.js": ("playback-report.js", "text/javascript"),
    "style.css": ("style.css", "text/css"),
    "hls.min.js": ("node_modules/hls.js/dist/hls.min.js", "text/javascript"),
    "dashboard.js": ("dashboard.js", "text/javascript"),
    "dashboard.css": ("dashboard.css", "text/css"),
    "chart.umd.min.js": ("node_modules/chart.js/dist/chart.umd.min.js", "text/javascript"),
}
_HEADERS = {"Content-Security-Policy": PAGE_POLICY, "Cache-Control": "no-cache"}


async def index(request: web.Request) -> web.FileResponse:
    return await _file(request, "index.html", "text/html")


async def dashboard(request: web.Request) -> web.FileResponse:
    """The playback analytics dashboard: it reads the analytics API with the caller's user token."""
    return await _file(request, "dashboard.html", "text/html")


async def asset(request: web.Request) -> web.FileResponse:
    try:
        name, content_type = ASSETS[request.match_info["asset"]]
    except KeyError:
        raise ApiError(404, "not_found", "no such asset") from None
    return await _file(request, name, content_type)


async def _file(request: web.Request, name: str, content_type: str) -> web.FileResponse:
    path = request.app[SETTINGS].web_dir / name
    if not await asyncio.to_thread(path.is_file):  # hls.js is missing until `make setup` (npm ci) has run
        raise ApiError(404, "not_found", f"{name} is not installed: run make setup")
    return web.FileResponse(path, headers={**_HEADERS, "Content-Type": content_type})
