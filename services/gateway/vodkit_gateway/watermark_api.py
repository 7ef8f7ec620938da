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

from aiohttp import web
from pydantic import Field, ValidationError

from vodkit_gateway.api import problems, reply
from vodkit_gateway.auth import caller, owned_video
from vodkit_gateway.forms import FILE, read_form, text
from vodkit_gateway.keys import SETTINGS
from vodkit_gateway.schemas import Body
from vodkit_gateway.watermarks import watermarks
from vodkit_shared.service import ApiError
from vodkit_shared.watermarks import (
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


class WatermarkForm(Placement, Body):
    """`PUT /api/watermark`, `PUT /api/videos/{id}/watermark`: multipart/form-data, the placement's fields
    (their bounds and defaults are `Placement`'s) and the PNG."""

    file: bytes = Field(
        description="The PNG: with an alpha channel or a tRNS chunk, at most VODKIT_WATERMARK_MAX_BYTES (256 KiB) "
        "and VODKIT_WATERMARK_MAX_SIDE (1024) pixels a side, its longer side at most 16 times its shorter.",
        json_schema_extra={"format": "binary"},
    )


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
    response = await _put(request, video_key(video_id))
    await _unless_gone(request, video_key(video_id))
    return response


async def _unless_gone(request: web.Request, key: str) -> None:
    """A video removed while its watermark was written (a tus termination, a DELETE) forgot its records
    before the write landed: remove it again, so no record outlives its video (404). A video that left
    `uploading` meanwhile keeps it: the change is in the window the transcoder's README admits, and
    removing it would leave the video with no watermark at all."""
    try:
        await owned_video(request)
    except ApiError as error:
        if error.status == 404:
            await watermarks(request.app).delete(key)
        raise


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
    """The PNG and the placement; 415 for another body, 413 for a PNG over the limit, 400 for anything odd
    (`forms.read_form`)."""
    limit = request.app[SETTINGS].watermark_max_bytes
    too_large = f"a watermark may be at most {limit} bytes"
    declared = request.content_length
    if request.content_type == "multipart/form-data" and declared is not None and declared > limit + _FORM_OVERHEAD:
        raise ApiError(413, "too_large", too_large)
    send = "send multipart/form-data with `file` and the placement"
    form = await read_form(request, (FILE, *_PLACEMENT_FIELDS), limit, send, too_large, _FIELD_LIMIT)
    if FILE not in form:
        raise ApiError(400, "bad_request", "missing 'file' field (the PNG)")
    fields = {name: text(form, name) for name in _PLACEMENT_FIELDS if name in form}
    try:
        return form[FILE], Placement.model_validate(fields)
    except ValidationError as error:
        raise ApiError(400, "bad_request", problems(error)) from None
