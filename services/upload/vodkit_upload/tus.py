"""The tus 1.0 protocol's storage side: creation (with upload), HEAD, PATCH with checksum, termination.

The gateway serves the public endpoint (`/api/uploads/`, user token) and forwards each request
here with an upload token for the video. Every PATCH body is spooled (hashed on the way) and stored
as a part keyed by its offset; when the declared length is in, `chunk.received` starts the same
assembly as the chunk API, so the video follows the same path from there.
"""

from __future__ import annotations

from email.utils import formatdate

from aiohttp import web

from vodkit_shared.headers import base64_value, byte_count
from vodkit_shared.service import ApiError
from vodkit_upload.errors import ChecksumMismatch, UploadRefused
from vodkit_upload.http import REFUSALS, grant_for_video, refused
from vodkit_upload.intake import Checksum
from vodkit_upload.keys import INTAKE, SETTINGS
from vodkit_upload.sessions import UploadSession
from vodkit_upload.spool import ALGORITHMS, spooled

TUS_VERSION = "1.0.0"
OFFSET_STREAM = "application/offset+octet-stream"
TUS_REFUSALS = {**REFUSALS, ChecksumMismatch: (460, "checksum_mismatch")}  # tus's own status for a bad digest
_READ = 256 * 1024


def _headers(request: web.Request, session: UploadSession) -> dict[str, str]:
    expires = session.updated_at + request.app[SETTINGS].upload_expiry_s
    return {
        "Tus-Resumable": TUS_VERSION,
        "Upload-Offset": str(session.offset),
        "Upload-Length": str(session.declared_size),
        "Upload-Expires": formatdate(expires, usegmt=True),
        "Cache-Control": "no-store",
    }


async def create(request: web.Request) -> web.Response:
    grant = grant_for_video(request)
    if grant.size is None:
        raise ApiError(400, "bad_request", "Upload-Length is required (deferred length is not supported)")
    try:
        session = await request.app[INTAKE].open_tus(grant)
        if request.content_type == OFFSET_STREAM and (request.content_length or request.body_exists):
            session = await _append(request, session, 0)  # creation-with-upload
    except UploadRefused as error:
        raise refused(error, TUS_REFUSALS) from None
    return web.Response(status=201, headers=_headers(request, session))


async def head(request: web.Request) -> web.Response:
    grant = grant_for_video(request)
    try:
        session = await request.app[INTAKE].tus_session(grant.video_id)
    except UploadRefused as error:
        raise refused(error, TUS_REFUSALS) from None
    return web.Response(status=200, headers=_headers(request, session))


async def patch(request: web.Request) -> web.Response:
    grant = grant_for_video(request)
    if request.content_type != OFFSET_STREAM:
        raise ApiError(415, "unsupported_media_type", f"PATCH needs Content-Type: {OFFSET_STREAM}")
    offset = byte_count(request.headers.get("Upload-Offset"), "Upload-Offset")
    try:
        session = await _append(request, await request.app[INTAKE].tus_session(grant.video_id), offset)
    except UploadRefused as error:
        raise refused(error, TUS_REFUSALS) from None
    return web.Response(status=204, headers=_headers(request, session))


async def terminate(request: web.Request) -> web.Response:
    grant = grant_for_video(request)
    try:
        await request.app[INTAKE].terminate(grant)
    except UploadRefused as error:
        raise refused(error, TUS_REFUSALS) from None
    return web.Response(status=204, headers={"Tus-Resumable": TUS_VERSION})


async def _append(request: web.Request, session: UploadSession, offset: int) -> UploadSession:
    intake, checksum = request.app[INTAKE], _checksum(request)
    room = intake.room(session, offset)
    too_large = f"the body goes past Upload-Length ({room} bytes were left)"
    algorithms = [checksum.algorithm] if checksum else []
    async with spooled(request.content.iter_chunked(_READ), room, too_large, algorithms) as body:
        return await intake.append(grant_for_video(request), offset, body, checksum)


def _checksum(request: web.Request) -> Checksum | None:
    header = request.headers.get("Upload-Checksum")
    if header is None:
        return None
    name, _, encoded = header.partition(" ")
    if name not in ALGORITHMS:
        raise ApiError(400, "bad_request", f"unsupported checksum algorithm {name!r} (sha1, sha256)")
    digest = base64_value(encoded)
    if digest is None:
        raise ApiError(400, "bad_request", "Upload-Checksum's digest is not base64")
    if len(digest) != ALGORITHMS[name]().digest_size:
        raise ApiError(400, "bad_request", f"Upload-Checksum's {name} digest has the wrong length")
    return Checksum(name, digest)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/tus/{video_id}", create)
    app.router.add_route("HEAD", "/api/tus/{video_id}", head)
    app.router.add_patch("/api/tus/{video_id}", patch)
    app.router.add_delete("/api/tus/{video_id}", terminate)
