"""The watermark API: a user's default watermark, and a video's own while it uploads.

A watermark is a small PNG with transparency and where it goes (`vodkit_shared.watermarks`), kept in
the metadata store's `watermarks` collection: the gateway reads and deletes objects but never writes
them. A video is created with a copy of its owner's default (a snapshot: changing the default later
changes no video in flight), which its owner may replace or remove while it uploads; once uploaded it is
burned in by the transcoder (409 from then on). The record goes with its video.

The PNG is checked in pure Python (`check_png`, in a worker thread) before it is stored: no decoder sees a
refused one.
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import Field, ValidationError

from vodkit_gateway.api import problems, reply
from vodkit_gateway.auth import caller, owned_video
from vodkit_gateway.keys import SETTINGS
from vodkit_gateway.schemas import Body
from vodkit_gateway.watermarks import watermarks
from vodkit_shared.service import ApiError
from vodkit_shared.watermarks import (
    MAX_MARGIN,
    MAX_SCALE,
    Placement,
    Position,
    Watermark,
    WatermarkRefused,
    check_png,
    user_key,
    video_key,
)

_PLACEMENT_FIELDS = ("position", "margin", "scale", "opacity")
_FIELD_LIMIT = 64  # bytes of a placement field: a number or a corner's name
_FORM_OVERHEAD = 16 * 1024  # the form's boundaries, headers and small fields, beyond the PNG


class WatermarkForm(Body):
    """`PUT /api/watermark`, `PUT /api/videos/{id}/watermark`: multipart/form-data."""

    file: bytes = Field(
        description="The PNG: with an alpha channel or a tRNS chunk, at most VODKIT_WATERMARK_MAX_BYTES (256 KiB) "
        "and VODKIT_WATERMARK_MAX_SIDE (1024) pixels a side.",
        json_schema_extra={"format": "binary"},
    )
    position: Position = Field("bottom-right", description="The corner it sits in.")
    margin: float = Field(0.03, ge=0, le=MAX_MARGIN, description="Gap to both edges, a fraction of the frame height.")
    scale: float = Field(0.1, gt=0, le=MAX_SCALE, description="Its height, a fraction of the frame height.")
    opacity: float = Field(0.8, ge=0, le=1, description="0 invisible, 1 as opaque as the PNG's own alpha.")


class WatermarkBody(Body):
    """A watermark's settings (not its image)."""

    position: Position = Field(description="The corner it sits in.")
    margin: float = Field(description="Gap to both edges, a fraction of the frame height.")
    scale: float = Field(description="Its height, a fraction of the frame height.")
    opacity: float = Field(description="0 invisible, 1 as opaque as the PNG's own alpha.")
    width: int = Field(description="The PNG's width in pixels.")
    height: int = Field(description="The PNG's height in pixels.")
    bytes: int = Field(description="The PNG's size.")
    updated_at: float = Field(description="When it was set (Unix seconds).")


async def put_my_watermark(request: web.Request) -> web.Response:
    return await _put(request, user_key(caller(request)))


async def get_my_watermark(request: web.Request) -> web.Response:
    watermark = await watermarks(request.app).get(user_key(caller(request)))
    if watermark is None:
        raise ApiError(404, "not_found", "no default watermark is set")
    return reply(_body(watermark))


async def delete_my_watermark(request: web.Request) -> web.Response:
    """The default goes; videos created with it keep their copy."""
    if not await watermarks(request.app).delete(user_key(caller(request))):
        raise ApiError(404, "not_found", "no default watermark is set")
    return web.Response(status=204)


async def put_video_watermark(request: web.Request) -> web.Response:
    video_id = await _uploading_video(request)
    return await _put(request, video_key(video_id))


async def delete_video_watermark(request: web.Request) -> web.Response:
    video_id = await _uploading_video(request)
    if not await watermarks(request.app).delete(video_key(video_id)):
        raise ApiError(404, "not_found", "the video has no watermark")
    return web.Response(status=204)


async def _uploading_video(request: web.Request) -> str:
    video = await owned_video(request)
    if video.status != "uploading":
        raise ApiError(409, "conflict", f"the video is {video.status}: its watermark is set while it uploads")
    return video.video_id


async def _put(request: web.Request, key: str) -> web.Response:
    png, placement = await _read_form(request)
    settings = request.app[SETTINGS]
    try:
        # off the loop: inflating a 1024-px PNG takes ~20 ms of CPU (a 4096-px one ~0.3 s)
        info = await asyncio.to_thread(check_png, png, settings.watermark_max_bytes, settings.watermark_max_side)
    except WatermarkRefused as refused:
        raise ApiError(400, "bad_request", f"file: {refused}") from None
    watermark = Watermark.of(png, placement, info, time.time())
    await watermarks(request.app).put(key, watermark)
    return reply(_body(watermark))


def _body(watermark: Watermark) -> WatermarkBody:
    return WatermarkBody(
        **watermark.model_dump(include=set(_PLACEMENT_FIELDS)),
        width=watermark.width,
        height=watermark.height,
        bytes=len(watermark.png_bytes),
        updated_at=watermark.updated_at,
    )


async def _read_form(request: web.Request) -> tuple[bytes, Placement]:
    """The PNG and the placement; 415 for another body, 413 for a PNG over the limit, 400 for anything odd."""
    if request.content_type != "multipart/form-data":
        raise ApiError(415, "unsupported_media_type", "send multipart/form-data with `file` and the placement")
    limit = request.app[SETTINGS].watermark_max_bytes
    if request.content_length is not None and request.content_length > limit + _FORM_OVERHEAD:
        raise ApiError(413, "too_large", f"a watermark may be at most {limit} bytes")
    fields: dict[str, str] = {}
    png: bytes | None = None
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise ApiError(400, "bad_request", "nested multipart is not accepted")
            name = _field_name(part)
            if name in fields or (name == "file" and png is not None):
                raise ApiError(400, "bad_request", f"more than one {name!r} field")
            if name == "file":
                png = await _read_part(part, limit, 413, f"a watermark may be at most {limit} bytes")
            else:
                fields[name] = _text(name, await _read_part(part, _FIELD_LIMIT, 400, f"field {name!r} is too long"))
    except (ValueError, AssertionError, HttpProcessingError) as error:  # aiohttp's words for a malformed body
        raise ApiError(400, "bad_request", f"malformed multipart body: {error}") from None
    if png is None:
        raise ApiError(400, "bad_request", "missing 'file' field (the PNG)")
    try:
        return png, Placement.model_validate(fields)
    except ValidationError as error:
        raise ApiError(400, "bad_request", problems(error)) from None


def _field_name(part: BodyPartReader) -> str:
    if part.name != "file" and part.name not in _PLACEMENT_FIELDS:
        raise ApiError(400, "bad_request", f"unknown field {part.name!r}: send file, {', '.join(_PLACEMENT_FIELDS)}")
    return part.name


async def _read_part(part: BodyPartReader, limit: int, status: int, too_large: str) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk(16 * 1024):
        data += chunk
        if len(data) > limit:
            raise ApiError(status, "too_large" if status == 413 else "bad_request", too_large)
    return bytes(data)


def _text(name: str, data: bytes) -> str:
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise ApiError(400, "bad_request", f"field {name!r} is not UTF-8 text") from None
