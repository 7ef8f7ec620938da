"""The tus 1.0 protocol's storage side: creation (with upload), HEAD, PATCH with checksum, termination.

The gateway serves the public endpoint (`/api/uploads/`, user token) and forwards each request
here with an upload token for the video. Every PATCH body is spooled (hashed on the way) and stored
as a part keyed by its offset; when the declared length is in, `chunk.received` starts the same
assembly as the chunk API, so the video follows the same path from there.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import tempfile
import uuid
from email.utils import formatdate
from pathlib import Path

from aiohttp import web

from vodkit_shared.events import ChunkReceived, Envelope, VideoFailed, stable_event_id
from vodkit_shared.service import BUS, STORAGE, ApiError
from vodkit_shared.tokens import UploadGrant
from vodkit_upload.http import SESSIONS, SETTINGS, grant_for_video
from vodkit_upload.sessions import StoredChunk, UploadSession, chunks_prefix, part_key

TUS_VERSION = "1.0.0"
OFFSET_STREAM = "application/offset+octet-stream"
CHECKSUMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256}
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
    session = await request.app[SESSIONS].open_tus(grant)
    if request.content_type == OFFSET_STREAM and (request.content_length or request.body_exists):
        session = await _append(request, grant, session, 0)  # creation-with-upload
    return web.Response(status=201, headers=_headers(request, session))


async def head(request: web.Request) -> web.Response:
    grant_for_video(request)
    session = await _session(request)
    return web.Response(status=200, headers=_headers(request, session))


async def patch(request: web.Request) -> web.Response:
    grant = grant_for_video(request)
    if request.content_type != OFFSET_STREAM:
        raise ApiError(415, "unsupported_media_type", f"PATCH needs Content-Type: {OFFSET_STREAM}")
    try:
        offset = int(request.headers["Upload-Offset"])
    except (KeyError, ValueError):
        raise ApiError(400, "bad_request", "Upload-Offset must be a byte offset") from None
    session = await _append(request, grant, await _session(request), offset)
    return web.Response(status=204, headers=_headers(request, session))


async def terminate(request: web.Request) -> web.Response:
    grant = grant_for_video(request)
    await _session(request)
    await request.app[STORAGE].delete_prefix(chunks_prefix(grant.video_id))
    await request.app[SESSIONS].delete(grant.video_id)
    failed = VideoFailed(stage="upload", reason="the upload was terminated by the client")
    event_id = stable_event_id(VideoFailed.TYPE, grant.video_id, "tus-terminated")
    await request.app[BUS].publish(Envelope.wrap(failed, video_id=grant.video_id, event_id=event_id))
    return web.Response(status=204, headers={"Tus-Resumable": TUS_VERSION})


async def _session(request: web.Request) -> UploadSession:
    session = await request.app[SESSIONS].get(request.match_info["video_id"])
    if session is None or not session.tus:
        raise ApiError(404, "not_found", "no such tus upload (it may have expired or been terminated)")
    return session


async def _append(request: web.Request, grant: UploadGrant, session: UploadSession, offset: int) -> UploadSession:
    if session.assembled or offset != session.offset:
        raise ApiError(409, "conflict", f"Upload-Offset is {offset}, but the upload is at {session.offset}")
    algorithm, expected = _checksum(request)
    room = (session.declared_size or 0) - offset
    fd, name = tempfile.mkstemp(prefix="vodkit-tus-")
    os.close(fd)
    spool = Path(name)
    try:
        size, sha256, other = await _spool(request, spool, room, algorithm)
        if expected is not None and (other if algorithm != "sha256" else sha256) != expected:
            raise ApiError(
                460, "checksum_mismatch", f"the body's {algorithm} is not the Upload-Checksum sent: nothing was stored"
            )
        if size == 0:
            return session
        key = part_key(grant.video_id, offset, uuid.uuid4().hex[:8])
        await request.app[STORAGE].adopt_file(key, spool)
    finally:
        await asyncio.to_thread(spool.unlink, True)
    recorded = await request.app[SESSIONS].record_part(
        grant.video_id, offset, StoredChunk(size=size, sha256=sha256, key=key)
    )
    if recorded is None:
        raise ApiError(409, "conflict", "another request appended at this offset first")
    received = ChunkReceived(chunk_index=offset, total_chunks=0, size=size, key=key)
    await request.app[BUS].publish(Envelope.wrap(received, video_id=grant.video_id))
    return recorded


def _checksum(request: web.Request) -> tuple[str, bytes | None]:
    header = request.headers.get("Upload-Checksum")
    if header is None:
        return "sha256", None
    name, _, encoded = header.partition(" ")
    if name not in CHECKSUMS:
        raise ApiError(400, "bad_request", f"unsupported checksum algorithm {name!r} (sha1, sha256)")
    try:
        return name, base64.b64decode(encoded, validate=True)
    except ValueError:
        raise ApiError(400, "bad_request", "Upload-Checksum's digest is not base64") from None


async def _spool(request: web.Request, spool: Path, room: int, algorithm: str) -> tuple[int, str, bytes]:
    """The body to a file; returns its size, hex SHA-256 and raw digest under `algorithm`."""
    size, sha256 = 0, hashlib.sha256()
    other = sha256 if algorithm == "sha256" else CHECKSUMS[algorithm]()  # hash once where one will do

    def keep(data: bytes) -> None:
        out.write(data)
        sha256.update(data)
        if other is not sha256:
            other.update(data)

    with spool.open("wb") as out:
        async for data in request.content.iter_chunked(_READ):
            size += len(data)
            if size > room:
                raise ApiError(413, "too_large", f"the body goes past Upload-Length ({room} bytes were left)")
            await asyncio.to_thread(keep, data)
    return size, sha256.hexdigest(), other.digest()


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/tus/{video_id}", create)
    app.router.add_route("HEAD", "/api/tus/{video_id}", head)
    app.router.add_patch("/api/tus/{video_id}", patch)
    app.router.add_delete("/api/tus/{video_id}", terminate)
