"""HTTP entrypoint: `POST /api/videos/upload`, the seed's multipart chunk API.

The handler parses and spools the request, calls `ChunkIntake.take`, and maps the result.
The chunk streams from the socket to a temporary file (never whole in memory), then to storage.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Annotated

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from vodkit_shared import log_context
from vodkit_shared.headers import plain_digits
from vodkit_shared.service import ApiError, bearer_token
from vodkit_shared.tokens import TokenError, UploadGrant
from vodkit_upload.errors import (
    BadChunk,
    ChecksumMismatch,
    NoSuchUpload,
    OffsetConflict,
    TooLarge,
    UploadClosed,
    UploadRefused,
    WrongVideo,
)
from vodkit_upload.intake import ChunkForm
from vodkit_upload.keys import INTAKE, SESSIONS, SETTINGS, TOKENS
from vodkit_upload.sessions import UploadSession
from vodkit_upload.settings import UploadSettings
from vodkit_upload.spool import SpooledBody, spooled

_FIELD_LIMIT = 256
_READ = 256 * 1024
# The chunk API's words for the upload rules; tus.py has its own (a checksum mismatch is tus's 460).
REFUSALS: dict[type[UploadRefused], tuple[int, str]] = {
    WrongVideo: (403, "forbidden"),
    BadChunk: (400, "bad_request"),
    ChecksumMismatch: (400, "checksum_mismatch"),
    TooLarge: (413, "too_large"),
    OffsetConflict: (409, "conflict"),
    UploadClosed: (409, "upload_closed"),
    NoSuchUpload: (404, "not_found"),
}


def refused(error: UploadRefused, table: dict[type[UploadRefused], tuple[int, str]] = REFUSALS) -> ApiError:
    """The HTTP answer to a refusal, by the most specific entry of `table`."""
    status, code = next(table[kind] for kind in type(error).__mro__ if kind in table)
    return ApiError(status, code, str(error))


def _whole_number(value: object) -> object:
    if isinstance(value, str) and not plain_digits(value):  # int() would take `1_000`, `+3` and `3.0`
        raise ValueError("must be a whole number in digits 0-9")
    return value


WholeNumber = Annotated[int, BeforeValidator(_whole_number)]


class _Fields(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)
    video_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    chunk_index: WholeNumber = Field(ge=0)
    total_chunks: WholeNumber = Field(ge=1)
    checksum: str | None = Field(None, pattern=r"^[0-9a-fA-F]{64}$", description="hex SHA-256 of the chunk")


def _grant(request: web.Request) -> UploadGrant:
    try:
        return request.app[TOKENS].verify_upload(bearer_token(request))
    except TokenError as error:
        raise ApiError(401, "unauthorized", f"invalid upload token: {error}") from None


def grant_for_video(request: web.Request) -> UploadGrant:
    """The upload token's grant, if it is for the video in the path: 401 or 403 otherwise."""
    grant = _grant(request)
    if grant.video_id != request.match_info["video_id"]:
        raise ApiError(403, "forbidden", "the upload token is for another video")
    return grant


async def upload_chunk(request: web.Request) -> web.Response:
    grant = _grant(request)
    log_context.bind_video(grant.video_id)  # the video is in the form, not the route: the token names it
    settings = request.app[SETTINGS]
    if not request.content_type.startswith("multipart/"):
        raise ApiError(400, "bad_request", "send multipart/form-data with videoId, chunkIndex, totalChunks, chunk")
    try:
        reader = await _multipart(request)
        async with _read_form(reader, settings.max_chunk_bytes) as (fields, chunk):
            form = _validate(fields, settings)
            session = await request.app[INTAKE].take(grant, form, chunk)
    except UploadRefused as error:
        raise refused(error) from None
    return web.json_response(progress_body(session))


def progress_body(session: UploadSession) -> dict[str, object]:
    return {"status": "success", "uploadedChunks": session.uploaded, "nextChunk": session.next_chunk}


async def upload_state(request: web.Request) -> web.Response:
    """Where an upload stands, so a client resumes from the server's state.

    Upload tokens only: the gateway checks an owner's user token and sends one on."""
    video_id = grant_for_video(request).video_id
    session = await request.app[SESSIONS].get(video_id)
    if session is None:
        return web.json_response({"uploadedChunks": [], "nextChunk": 0, "totalChunks": None, "assembled": False})
    return web.json_response(
        {
            "uploadedChunks": session.uploaded,
            "nextChunk": session.next_chunk,
            "totalChunks": session.total_chunks,
            "assembled": session.assembled,
        }
    )


async def _multipart(request: web.Request) -> MultipartReader:
    try:
        return await request.multipart()
    except (ValueError, AssertionError, HttpProcessingError) as error:
        raise ApiError(400, "bad_request", f"malformed multipart body: {error}") from None


@contextlib.asynccontextmanager
async def _read_form(reader: MultipartReader, max_chunk: int) -> AsyncIterator[tuple[dict[str, str], SpooledBody]]:
    """The small fields and the spooled chunk, in any order; the spool lives as long as the block."""
    async with contextlib.AsyncExitStack() as stack:
        yield await _parse_form(reader, max_chunk, stack)


async def _parse_form(
    reader: MultipartReader, max_chunk: int, stack: contextlib.AsyncExitStack
) -> tuple[dict[str, str], SpooledBody]:
    fields: dict[str, str] = {}
    chunk: SpooledBody | None = None
    try:
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise ApiError(400, "bad_request", "nested multipart is not accepted")
            if part.name == "chunk":
                if chunk is not None:
                    raise ApiError(400, "bad_request", "more than one 'chunk' field")
                too_large = f"chunk exceeds the limit of {max_chunk} bytes"
                chunk = await stack.enter_async_context(spooled(_reads(part), max_chunk, too_large))
            elif part.name in ("videoId", "chunkIndex", "totalChunks", "checksum"):
                fields[part.name] = await _small_field(part)
            else:
                await part.release()
    except (ValueError, AssertionError, HttpProcessingError) as error:  # aiohttp's words for a malformed body
        raise ApiError(400, "bad_request", f"malformed multipart body: {error}") from None
    if chunk is None:
        raise ApiError(400, "bad_request", "missing 'chunk' field")
    return fields, chunk


async def _reads(part: BodyPartReader) -> AsyncIterator[bytes]:
    while data := await part.read_chunk(_READ):
        yield data


async def _small_field(part: BodyPartReader) -> str:
    data = bytearray()
    while chunk := await part.read_chunk(_FIELD_LIMIT):
        data += chunk
        if len(data) > _FIELD_LIMIT:
            raise ApiError(400, "bad_request", f"field {part.name!r} is too long")
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise ApiError(400, "bad_request", f"field {part.name!r} is not UTF-8 text") from None


def _validate(fields: dict[str, str], settings: UploadSettings) -> ChunkForm:
    try:
        parsed = _Fields.model_validate(fields)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'form'}: {e['msg']}" for e in error.errors())
        raise ApiError(400, "bad_request", problems) from None
    if parsed.total_chunks > settings.max_total_chunks:
        raise ApiError(400, "bad_request", f"totalChunks may be at most {settings.max_total_chunks}")
    return ChunkForm(parsed.video_id, parsed.chunk_index, parsed.total_chunks, parsed.checksum)
