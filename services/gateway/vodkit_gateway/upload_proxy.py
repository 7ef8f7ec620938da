"""`POST /api/videos/upload` is the upload service's: the gateway streams it through unchanged."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from vodkit_gateway.api import SETTINGS
from vodkit_shared.service import ApiError

CLIENT = web.AppKey("upload_client", aiohttp.ClientSession)
_FORWARDED = ("Authorization", "Content-Type", "Content-Length")


async def forward_upload(request: web.Request) -> web.Response:
    """Chunks stream through to the upload service unchanged, body and all."""
    return await _forward(request, "/api/videos/upload", data=request.content)


async def forward_upload_state(request: web.Request) -> web.Response:
    return await _forward(request, f"/api/videos/{request.match_info['video_id']}/upload")


async def _forward(request: web.Request, path: str, data: object = None) -> web.Response:
    url = request.app[SETTINGS].upload_url.rstrip("/") + path
    headers = {name: request.headers[name] for name in _FORWARDED if name in request.headers}
    try:
        async with request.app[CLIENT].request(request.method, url, data=data, headers=headers) as upstream:
            body = await upstream.read()
            return web.Response(
                body=body, status=upstream.status, content_type=upstream.content_type or "application/json"
            )
    except aiohttp.ClientError as error:
        raise ApiError(503, "upload_unavailable", f"the upload service cannot be reached: {error}") from None
