"""The video API: create a video (and its upload token), read its status and details."""

from __future__ import annotations

import json
import uuid
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vodkit_gateway.auth import TOKENS, VIDEOS, current_user, owned_video
from vodkit_gateway.settings import GatewaySettings
from vodkit_gateway.videos import VideoRecord
from vodkit_shared.service import ApiError

SETTINGS = web.AppKey("gateway_settings", GatewaySettings)
M = TypeVar("M", bound=BaseModel)


class CreateVideo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filename: str = Field(min_length=1, max_length=255, description="Name of the file to upload.")
    size: int = Field(ge=1, description="Bytes in the file.")
    sha256: str | None = Field(None, pattern=r"^[0-9a-fA-F]{64}$", description="Hex SHA-256 of the whole file.")


async def create_video(request: web.Request) -> web.Response:
    user = current_user(request)
    body = parse_body(CreateVideo, await _json(request))
    settings = request.app[SETTINGS]
    if body.size > settings.max_upload_bytes:
        raise ApiError(413, "too_large", f"a video may be at most {settings.max_upload_bytes} bytes")
    sha256 = body.sha256.lower() if body.sha256 else None
    video = VideoRecord(video_id=str(uuid.uuid4()), owner=user, filename=body.filename, size=body.size, sha256=sha256)
    await request.app[VIDEOS].create(video)
    return web.json_response(upload_grant_body(request, video), status=201)


async def renew_upload_token(request: web.Request) -> web.Response:
    """A fresh upload token for a video still uploading: uploads may outlast a token's hour."""
    video = await owned_video(request)
    if video.status != "uploading":
        raise ApiError(409, "conflict", f"the video is {video.status}: its upload is over")
    return web.json_response(upload_grant_body(request, video))


def upload_grant_body(request: web.Request, video: VideoRecord) -> dict[str, Any]:
    token, grant = request.app[TOKENS].upload_token(video.video_id, video.owner, video.size, video.sha256)
    return {
        "videoId": video.video_id,
        "uploadToken": token,
        "chunkSize": request.app[SETTINGS].chunk_size,
        "expiresAt": grant.expires_at,
    }


async def video_status(request: web.Request) -> web.Response:
    video = await owned_video(request)
    return web.json_response(status_body(request, video))


async def video_details(request: web.Request) -> web.Response:
    video = await owned_video(request)
    details = {
        "videoId": video.video_id,
        "filename": video.filename,
        "size": video.size,
        "durationSeconds": video.duration_s,
        "createdAt": video.created_at,
        "quality": {rung: q.model_dump() for rung, q in video.quality.items()},
        **artwork_urls(request, video),
    }
    return web.json_response({**details, **status_body(request, video)})


def status_body(request: web.Request, video: VideoRecord) -> dict[str, Any]:
    return {
        "status": video.status,
        "progress": video.progress,
        "qualities": video.qualities,
        "error": video.error,
        "playbackUrl": playback_url(request, video),
    }


def playback_url(request: web.Request, video: VideoRecord) -> str | None:
    """A signed URL; the token is a path segment, so relative URIs in the playlists inherit it."""
    return signed_url(request, video, "master.m3u8") if video.status == "completed" else None


def artwork_urls(request: web.Request, video: VideoRecord) -> dict[str, str | None]:
    if not video.artwork:
        return {"posterUrl": None, "storyboardUrl": None}
    return {
        "posterUrl": signed_url(request, video, "poster.jpg"),
        "storyboardUrl": signed_url(request, video, "storyboard/storyboard.vtt"),
    }


def signed_url(request: web.Request, video: VideoRecord, path: str) -> str:
    token = request.app[TOKENS].playback_token(video.video_id, request.app[SETTINGS].playback_ttl_s)
    return f"{public_base(request)}/play/{token}/{path}"


def public_base(request: web.Request) -> str:
    """The base URL clients reach the gateway at: VODKIT_PUBLIC_URL, else the request's own."""
    return request.app[SETTINGS].public_url.rstrip("/") or f"{request.scheme}://{request.host}"


async def _json(request: web.Request) -> Any:
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "send a JSON body with Content-Type: application/json")
    try:
        return json.loads(await request.read())
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "bad_request", "body is not valid JSON") from None


def parse_body(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in error.errors())
        raise ApiError(400, "bad_request", problems) from None
