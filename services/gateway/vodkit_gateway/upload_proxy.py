"""`POST /api/videos/upload` is the upload service's: the gateway streams it through unchanged."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from vodkit_gateway.api import SETTINGS
from vodkit_shared.service import ApiError

CLIENT = web.AppKey("upload_client", aiohttp.ClientSession)
_FORWARDED = ("Authorization", "Content-Type", "Content-Length")


async def forward_upload(request: web.Request) -> web.Response:
    url = request.app[SETTINGS].upload_url.rstrip("/") + "/api/videos/upload"
    headers = {name: request.headers[name] for name in _FORWARDED if name in request.headers}
    try:
        async with request.app[CLIENT].post(url, data=request.content, headers=headers) as upstream:
            body = await upstream.read()
            return web.Response(
                body=body, status=upstream.status, content_type=upstream.content_type or "application/json"
            )
    except aiohttp.ClientError as error:
        raise ApiError(503, "upload_unavailable", f"the upload service cannot be reached: {error}") from None
