"""Who is calling: the user behind a bearer token, and whether they may see a video."""

from __future__ import annotations

from aiohttp import web

from vodkit_gateway.videos import VideoRecord, Videos
from vodkit_shared.service import ApiError, bearer_token
from vodkit_shared.tokens import TokenError, Tokens

TOKENS = web.AppKey("tokens", Tokens)
VIDEOS = web.AppKey("videos", Videos)


def current_user(request: web.Request) -> str:
    try:
        return request.app[TOKENS].verify_user(bearer_token(request))
    except TokenError as error:
        raise ApiError(401, "unauthorized", f"invalid user token: {error}") from None


async def owned_video(request: web.Request) -> VideoRecord:
    """The video in the path, if the caller owns it: 401, 404 or 403 otherwise."""
    user = current_user(request)
    video = await request.app[VIDEOS].get(request.match_info["video_id"])
    if video is None:
        raise ApiError(404, "not_found", "no such video")
    if video.owner != user:
        raise ApiError(403, "forbidden", "this video belongs to another user")
    return video
