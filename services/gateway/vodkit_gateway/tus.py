"""tus 1.0 at `/api/uploads/`: core protocol, creation, creation-with-upload, checksum (sha1, sha256),
termination and expiration, with the user token in `Authorization`.

The gateway checks who is calling and creates the video; the upload service stores the bytes. The
upload URL is `/api/uploads/{videoId}`, and the video then follows the same path (events, status,
playback) as one uploaded by chunks.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import cast

from aiohttp import web

from vodkit_gateway.api import forget_records, public_base, record_new_video
from vodkit_gateway.auth import caller, owned_video
from vodkit_gateway.keys import SETTINGS, TOKENS
from vodkit_gateway.upload_proxy import forward
from vodkit_gateway.videos import Encryption, VideoRecord
from vodkit_shared.headers import base64_value, byte_count
from vodkit_shared.service import ApiError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
VERSION = "1.0.0"
EXTENSIONS = "creation,creation-with-upload,checksum,termination,expiration"
_PASSED = ("Upload-Offset", "Upload-Checksum", "Tus-Resumable")
_RETURNED = ("Upload-Offset", "Upload-Length", "Upload-Expires", "Tus-Resumable", "Cache-Control")


@web.middleware
async def tus_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every tus answer says Tus-Resumable, errors included."""
    if not request.path.startswith("/api/uploads"):
        return await handler(request)
    try:
        response = await handler(request)
    except ApiError as error:
        error.headers["Tus-Resumable"] = VERSION  # errors too, as the protocol asks
        raise
    response.headers["Tus-Resumable"] = VERSION
    return response


def _check_version(request: web.Request) -> None:
    """400 without Tus-Resumable, 412 for another version (checked once the caller is known: a request
    without a valid token is a 401 whatever its version, `auth.enforce_security`)."""
    version = request.headers.get("Tus-Resumable")
    if version == VERSION:
        return
    status, code = (400, "bad_request") if version is None else (412, "precondition_failed")
    raise ApiError(
        status,
        code,
        f"this server speaks tus {VERSION}: send Tus-Resumable: {VERSION}",
        headers={"Tus-Version": VERSION, "Tus-Resumable": VERSION},
    )


async def options(request: web.Request) -> web.Response:
    return web.Response(
        status=204,
        headers={
            "Tus-Resumable": VERSION,
            "Tus-Version": VERSION,
            "Tus-Extension": EXTENSIONS,
            "Tus-Checksum-Algorithm": "sha1,sha256",
            "Tus-Max-Size": str(request.app[SETTINGS].max_upload_bytes),
        },
    )


async def create(request: web.Request) -> web.Response:
    user = caller(request)  # the route's `user` scheme answered 401 before this 412 could
    _check_version(request)
    length = _upload_length(request)
    metadata = _metadata(request.headers.get("Upload-Metadata", ""))
    filename = metadata.get("filename") or metadata.get("name") or "upload"
    asked = metadata.get("encryption")
    if asked not in (None, "none", "aes-128"):
        raise ApiError(400, "bad_request", "Upload-Metadata encryption must be none or aes-128")
    video = VideoRecord(video_id=str(uuid.uuid4()), owner=user, filename=filename[:255], size=length)
    video = await record_new_video(request, video, cast(Encryption | None, asked))
    try:
        response = await _forward(request, video, f"/api/tus/{video.video_id}")
    except ApiError:
        await forget_records(request.app, video.video_id)
        raise
    if response.status != 201:  # nothing was stored: no video is left waiting for an upload that never was
        await forget_records(request.app, video.video_id)
        return response
    response.headers["Location"] = f"{public_base(request)}/api/uploads/{video.video_id}"
    return response


async def upload(request: web.Request) -> web.Response:
    """HEAD, PATCH and DELETE of one upload, by its owner."""
    video = await owned_video(request)
    _check_version(request)
    return await _forward(request, video, f"/api/tus/{video.video_id}")


async def _forward(request: web.Request, video: VideoRecord, path: str) -> web.Response:
    token, _ = request.app[TOKENS].upload_token(video.video_id, video.owner, video.size, video.sha256)
    data = request.content if request.method in ("POST", "PATCH") else None
    return await forward(request, path, data=data, token=token, pass_headers=_PASSED, return_headers=_RETURNED)


def _upload_length(request: web.Request) -> int:
    if "Upload-Defer-Length" in request.headers:
        raise ApiError(400, "bad_request", "deferred Upload-Length is not supported: send Upload-Length")
    length = byte_count(request.headers.get("Upload-Length"), "Upload-Length")
    if length < 1:
        raise ApiError(400, "bad_request", "Upload-Length must be at least 1")
    if length > request.app[SETTINGS].max_upload_bytes:
        raise ApiError(413, "too_large", f"a video may be at most {request.app[SETTINGS].max_upload_bytes} bytes")
    return length


def _metadata(header: str) -> dict[str, str]:
    """`key base64value,key2 base64value2`, as tus sends it."""
    pairs: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in header.split(","))):
        key, _, value = item.partition(" ")
        decoded = base64_value(value) if value else b""
        if decoded is None:
            raise ApiError(400, "bad_request", f"Upload-Metadata value of {key!r} is not base64 text")
        pairs[key] = decoded.decode(errors="replace")  # opaque bytes to tus; as a filename, not UTF-8 is U+FFFD
    return pairs
