"""The video API: create, list, watch, read, change and delete videos."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import Callable
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from vodkit_gateway.auth import caller, owned_video, viewable_video
from vodkit_gateway.keys import CONTENT_KEYS, SETTINGS, STOPPING, THUMBNAILS, TOKENS, VIDEOS
from vodkit_gateway.playback import download_path, downloads
from vodkit_gateway.schemas import (
    CreateVideo,
    RungQuality,
    UpdateVideo,
    UploadGrantBody,
    VideoDetailsBody,
    VideoList,
    VideoStatusBody,
)
from vodkit_gateway.videos import Encryption, VideoRecord
from vodkit_gateway.watermarks import forget_video, snapshot_default
from vodkit_shared import log_context
from vodkit_shared.events import Envelope, VideoDeleted, stable_event_id
from vodkit_shared.lifecycle import object_prefixes
from vodkit_shared.service import BUS, STORAGE, ApiError

Sign = Callable[[str], str]
M = TypeVar("M", bound=BaseModel)


async def create_video(request: web.Request) -> web.Response:
    user = caller(request)
    body = await parse_json(request, CreateVideo)
    settings = request.app[SETTINGS]
    if body.size > settings.max_upload_bytes:
        raise ApiError(413, "too_large", f"a video may be at most {settings.max_upload_bytes} bytes")
    sha256 = body.sha256.lower() if body.sha256 else None
    video = VideoRecord(
        video_id=str(uuid.uuid4()),
        owner=user,
        filename=body.filename,
        size=body.size,
        sha256=sha256,
        visibility=body.visibility,
        downloadable=body.downloadable,
    )
    video = await record_new_video(request, video, body.encryption)
    log_context.bind_video(video.video_id)  # its access line names the video it made
    return reply(upload_grant(request, video), status=201)


async def record_new_video(request: web.Request, video: VideoRecord, asked: Encryption | None) -> VideoRecord:
    """Record a new video (by the chunk API or tus) with what goes with it, as stored.

    Its encryption (the default unless `asked`) is recorded first: no upload of it can be packaged in
    the clear for want of its policy. Then the video, then a copy of its owner's default watermark as
    it is now. `forget_records` undoes it all.
    """
    settings = request.app[SETTINGS]
    encryption = asked or settings.default_encryption
    if encryption == "aes-128":
        await request.app[CONTENT_KEYS].protect(video.video_id, settings.key_rotation_segments)
    video = video.model_copy(update={"encryption": encryption})
    await request.app[VIDEOS].create(video)
    await snapshot_default(request.app, video.owner, video.video_id)
    return video


async def forget_records(app: web.Application, video_id: str) -> None:
    """Remove the video's keys, watermark and record, the record last: a removal cut short can be done again.

    The watermark goes a second time after the record: a `PUT …/watermark` that read the record before it
    went may have written one meanwhile (its own check after writing catches those that land later)."""
    await app[CONTENT_KEYS].forget(video_id)
    await forget_video(app, video_id)
    await app[VIDEOS].delete(video_id)
    await forget_video(app, video_id)


async def renew_upload_token(request: web.Request) -> web.Response:
    """A fresh upload token for a video still uploading: uploads may outlast a token's hour."""
    video = await owned_video(request)
    if video.status != "uploading":
        raise ApiError(409, "conflict", f"the video is {video.status}: its upload is over")
    return reply(upload_grant(request, video))


def upload_grant(request: web.Request, video: VideoRecord) -> UploadGrantBody:
    token, grant = request.app[TOKENS].upload_token(video.video_id, video.owner, video.size, video.sha256)
    return UploadGrantBody(
        video_id=video.video_id,
        upload_token=token,
        chunk_size=request.app[SETTINGS].chunk_size,
        expires_at=grant.expires_at,
    )


async def list_my_videos(request: web.Request) -> web.Response:
    user = caller(request)
    videos = await request.app[VIDEOS].owned_by(user)
    return reply(VideoList(videos=[details(request, v) for v in videos]))


async def list_public_videos(request: web.Request) -> web.Response:
    videos = await request.app[VIDEOS].public()
    return reply(VideoList(videos=[details(request, v) for v in videos]))


async def watch_my_videos(request: web.Request) -> web.StreamResponse:
    """Server-sent events: the caller's video list now, then again each time it changes.

    The stream reads the shared metadata store, so it sees every change whichever replica's
    consumer made it. It ends after `live_stream_s`, or when the gateway stops; clients
    reconnect, as EventSource does.
    """
    user = caller(request)
    settings, stopping = request.app[SETTINGS], request.app[STOPPING]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
    await response.prepare(request)
    ends_at, last = time.monotonic() + settings.live_stream_s, ""
    while True:
        videos = await request.app[VIDEOS].owned_by(user)
        data = VideoList(videos=[details(request, v, signed=False) for v in videos]).model_dump_json(by_alias=True)
        if data != last:
            await response.write(f"event: videos\ndata: {data}\n\n".encode())
            last = data
        if time.monotonic() >= ends_at or await _is_set_within(stopping, settings.live_poll_s):
            break
    await response.write_eof()
    return response


async def _is_set_within(event: asyncio.Event, seconds: float) -> bool:
    try:
        await asyncio.wait_for(event.wait(), seconds)
    except TimeoutError:
        return False
    return True


async def video_status(request: web.Request) -> web.Response:
    video, _ = await viewable_video(request)
    return unless_unchanged(request, reply(status(video, signer(request, video))))


def unless_unchanged(request: web.Request, response: web.Response) -> web.Response:
    """The answer with its ETag (a hash of the body), or a bodyless 304 if If-None-Match names it.

    A status before the video plays (at its early preview or its ladder) has no signed URL, so its
    body, and its ETag, change only when the video does; from then on each answer signs afresh.
    A 304 counts as a read like any other (the read budget is sized for polling).
    """
    assert isinstance(response.body, bytes)
    tag = f'"{hashlib.sha256(response.body).hexdigest()[:32]}"'
    headers = {"ETag": tag, "Cache-Control": "no-cache"}  # a browser's cache asks again each time
    held = {part.strip().removeprefix("W/") for part in request.headers.get("If-None-Match", "").split(",")}
    if tag in held or "*" in held:
        return web.Response(status=304, headers=headers)
    response.headers.update(headers)
    return response


async def video_details(request: web.Request) -> web.Response:
    video, _ = await viewable_video(request)
    return reply(details(request, video))


async def update_video(request: web.Request) -> web.Response:
    video = await owned_video(request)
    change = await parse_json(request, UpdateVideo)
    updated = await request.app[VIDEOS].change(video.video_id, change.visibility, change.downloadable)
    if updated is None:
        raise ApiError(404, "not_found", "no such video")
    return reply(details(request, updated))


async def delete_video(request: web.Request) -> web.Response:
    """Remove the video's objects and record, then say so with `video.deleted`.

    A video still uploading or processing is refused (409): a chunk or a rendition arriving
    after its deletion would bring objects back that nobody owns.
    """
    video = await owned_video(request)
    if video.status in ("uploading", "processing"):
        raise ApiError(409, "conflict", f"the video is {video.status}: delete it once it has completed or failed")
    prefixes = object_prefixes(video.video_id)
    for prefix in prefixes:
        await request.app[STORAGE].delete_prefix(prefix)
    # the record goes last: a DELETE cut short by a failure can be sent again, and finishes the job
    deleted = VideoDeleted(owner=video.owner, prefixes=prefixes)
    event_id = stable_event_id(VideoDeleted.TYPE, video.video_id)
    await request.app[BUS].publish(Envelope.wrap(deleted, video_id=video.video_id, event_id=event_id))
    await forget_records(request.app, video.video_id)
    request.app[THUMBNAILS].forget(video.video_id)
    return web.Response(status=204)


def status(video: VideoRecord, sign: Sign | None) -> VideoStatusBody:
    return VideoStatusBody(
        status=video.status,
        progress=video.progress,
        qualities=video.qualities,
        error=video.error,
        playable=plays(video),
        playback_url=sign("master.m3u8") if sign and plays(video) else None,
    )


def plays(video: VideoRecord) -> bool:
    """Completed, or still processing with an early preview playing (`video.playable`)."""
    return video.status == "completed" or (video.status == "processing" and video.playable)


def details(request: web.Request, video: VideoRecord, signed: bool = True) -> VideoDetailsBody:
    """Everything about a video; `signed=False` leaves out the signed URLs (for streams that repeat)."""
    sign = signer(request, video) if signed else None
    return VideoDetailsBody(
        **status(video, sign).model_dump(),
        video_id=video.video_id,
        filename=video.filename,
        size=video.size,
        visibility=video.visibility,
        duration_seconds=video.duration_s,
        created_at=video.created_at,
        quality={rung: RungQuality(ssim=q.ssim, psnr=q.psnr) for rung, q in video.quality.items()},
        poster_url=sign("poster.jpg") if sign and video.artwork else None,
        storyboard_url=sign("storyboard/storyboard.vtt") if sign and video.artwork else None,
        downloadable=video.downloadable,
        encryption=video.encryption,
        download_urls={r: sign(download_path(r)) for r in downloads(video)} if sign and video.downloadable else None,
    )


def signer(request: web.Request, video: VideoRecord) -> Sign | None:
    """Signs paths of the video's playback objects with one fresh token; None if it has none to show yet."""
    if not plays(video) and not video.artwork:
        return None
    token = request.app[TOKENS].playback_token(video.video_id, request.app[SETTINGS].playback_ttl_s)
    base = f"{public_base(request)}/videos/{video.video_id}/"
    return lambda path: f"{base}{path}?token={token}"


def public_base(request: web.Request) -> str:
    """The base URL clients reach the gateway at: VODKIT_PUBLIC_URL, else the request's own."""
    return request.app[SETTINGS].public_url.rstrip("/") or f"{request.scheme}://{request.host}"


def reply(body: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(body.model_dump(mode="json", by_alias=True), status=status)


async def parse_json(request: web.Request, model: type[M]) -> M:
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "send a JSON body with Content-Type: application/json")
    limit = request.app[SETTINGS].max_json_bytes
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "too_large", f"a JSON body may be at most {limit} bytes")
    raw = await request.content.read(limit + 1)
    if len(raw) > limit:
        raise ApiError(413, "too_large", f"a JSON body may be at most {limit} bytes")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "bad_request", "body is not valid JSON") from None
    except RecursionError:  # a few KiB of `[[[[…` nests deeper than the decoder goes
        raise ApiError(400, "bad_request", "body nests too deeply") from None
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ApiError(400, "bad_request", problems(error)) from None


def problems(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in error.errors())
