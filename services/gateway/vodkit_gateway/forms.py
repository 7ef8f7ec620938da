"""A multipart/form-data body read with every part bounded, for the routes that take a file and a few
small fields (subtitles_api.py, watermark_api.py): one reader, so both refuse a bad form alike.

415 for another body; 400 for a nested multipart, an unknown or repeated field, a field over its bound,
or a body aiohttp's parser cannot read (named by the error's type, never its text); 413 for a `file`
over its limit. Each part is read in chunks and refused as soon as it passes its bound.
"""

from __future__ import annotations

from collections.abc import Collection

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from vodkit_shared.service import ApiError

FILE = "file"
FIELD_BYTES = 1024  # of a form field but the file
_CHUNK = 16 * 1024


async def read_form(
    request: web.Request,
    names: Collection[str],
    file_bytes: int,
    send: str,
    file_too_large: str,
    field_bytes: int = FIELD_BYTES,
) -> dict[str, bytes]:
    """The form's parts by name, each at most once and only of `names`; `send` says what to send instead
    of another body (415), `file_too_large` why a file over `file_bytes` is refused (413)."""
    if request.content_type != "multipart/form-data":
        raise ApiError(415, "unsupported_media_type", send)
    form: dict[str, bytes] = {}
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            part, name = _field(part, names)
            if name in form:
                raise ApiError(400, "bad_request", f"more than one {name!r} field")
            if name == FILE:
                form[name] = await _read(part, file_bytes, ApiError(413, "too_large", file_too_large))
            else:
                too_long = ApiError(400, "bad_request", f"field {name!r} may be at most {field_bytes} bytes")
                form[name] = await _read(part, field_bytes, too_long)
    except (ValueError, AssertionError, LookupError, HttpProcessingError) as error:  # aiohttp's parser's
        raise ApiError(400, "bad_request", f"malformed multipart body: {type(error).__name__}") from None
    return form


def text(form: dict[str, bytes], name: str) -> str | None:
    """A field as text; None if the form has none; 400 if it is not UTF-8."""
    if name not in form:
        return None
    try:
        return form[name].decode()
    except UnicodeDecodeError:
        raise ApiError(400, "bad_request", f"field {name!r} is not UTF-8 text") from None


def _field(part: MultipartReader | BodyPartReader, names: Collection[str]) -> tuple[BodyPartReader, str]:
    if not isinstance(part, BodyPartReader):
        raise ApiError(400, "bad_request", "nested multipart is not accepted")
    name = part.name
    if name is None or name not in names:
        raise ApiError(400, "bad_request", f"unknown field {name!r}: send {', '.join(names)}")
    return part, name


async def _read(part: BodyPartReader, limit: int, too_large: ApiError) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk(_CHUNK):
        data += chunk
        if len(data) > limit:
            raise too_large
    return bytes(data)
