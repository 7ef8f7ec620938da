"""`POST /api/videos/upload` is the upload service's: the gateway streams it through unchanged."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from vodkit_gateway.auth import owned_video, video_id
from vodkit_gateway.keys import CALLER, SETTINGS, TOKENS, UPLOAD_CLIENT, UPLOAD_GRANT, VIDEOS
from vodkit_shared import log_context
from vodkit_shared.access_log import REQUEST_ID_HEADER
from vodkit_shared.service import ApiError

_FORWARDED = ("Authorization", "Content-Type", "Content-Length")


async def forward_upload(request: web.Request) -> web.Response:
    """Chunks stream through to the upload service unchanged, body and all, while the video is uploading."""
    await _refuse_closed_upload(request)
    return await forward(request, "/api/videos/upload", data=request.content)


async def _refuse_closed_upload(request: web.Request) -> None:
    """An upload token works only while its video is `uploading`: not once it is deleted, failed or assembled.

    The route's `upload` scheme verified the token; the upload service checks it again, and which video
    and chunk it is for. It hears of a deletion by an event, moments later; the record here is gone at once."""
    grant = request[UPLOAD_GRANT]
    log_context.bind_video(grant.video_id)  # a chunk's route names no video: its token does
    video = await request.app[VIDEOS].get(grant.video_id)
    if video is None or video.status != "uploading":
        state = "deleted" if video is None else video.status
        raise ApiError(409, "upload_closed", f"the video is {state}: its upload token no longer takes chunks")


async def forward_upload_state(request: web.Request) -> web.Response:
    """With an upload token, the upload service checks it is for this video; with a user token, the gateway
    checks the caller owns it (the route's `upload_or_user` scheme verified either)."""
    path = f"/api/videos/{video_id(request)}/upload"
    if CALLER not in request:  # an upload token
        return await forward(request, path)
    video = await owned_video(request)
    token, _ = request.app[TOKENS].upload_token(video.video_id, video.owner, video.size, video.sha256)
    return await forward(request, path, token=token)


async def forward(
    request: web.Request,
    path: str,
    *,
    data: object = None,
    token: str | None = None,
    pass_headers: tuple[str, ...] = (),
    return_headers: tuple[str, ...] = (),
) -> web.Response:
    """Send the request on to the upload service (with `token` instead of the caller's, if given)."""
    url = request.app[SETTINGS].upload_url.rstrip("/") + path
    names = _FORWARDED + pass_headers
    headers = {name: request.headers[name] for name in names if name in request.headers}
    if (request_id := log_context.bound().get("requestId")) is not None:
        headers[REQUEST_ID_HEADER] = request_id  # the upload service's lines of this request share it
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    try:
        async with request.app[UPLOAD_CLIENT].request(request.method, url, data=data, headers=headers) as upstream:
            body = await upstream.read()
            kept = {name: upstream.headers[name] for name in return_headers if name in upstream.headers}
            response = web.Response(body=body or None, status=upstream.status, headers=kept)
            if body:
                response.content_type = upstream.content_type or "application/json"
            return response
    except aiohttp.ClientError as error:
        raise ApiError(503, "upload_unavailable", f"the upload service cannot be reached: {error}") from None
