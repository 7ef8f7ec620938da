"""Watermarks: a PNG with alpha burned into every rendition of a video, and where it goes on the frame.

The contract between the gateway, which writes them, and the transcoder, which reads them: documents of
the metadata store's `watermarks` collection, keyed `user:{userId}` (a user's default) and
`video:{videoId}` (a video's own, a copy of the default made when the video is created, or set while it
uploads). The gateway never writes objects (least privilege) and the PNG is small (bounded bytes and
sides), so it lives in the document, base64.

The PNG is hostile input. `check_png` reads it in pure Python before anything else does: the signature,
every chunk's length and CRC, IHDR (sides within bounds, at most `MAX_ASPECT` to 1 either way, a valid
colour type and bit depth), alpha (a
colour type with an alpha channel, or a tRNS chunk), nothing after IEND, and the image data inflating to
exactly the size IHDR implies (streamed, so a deflate bomb costs nothing). ffmpeg then opens it with its
demuxer forced (`MediaInput.own(path, "png_pipe")`), so no uploaded byte picks a demuxer, protocol or path.
"""

from __future__ import annotations

import base64
import struct
import zlib
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from vodkit_shared.metadata import Collection, DuplicateKey

COLLECTION = "watermarks"
Position = Literal["top-left", "top-right", "bottom-left", "bottom-right"]
POSITIONS: tuple[Position, ...] = ("top-left", "top-right", "bottom-left", "bottom-right")
MAX_MARGIN = 0.5  # of the frame height
MAX_SCALE = 1.0  # the watermark's height, of the frame height
DEFAULT_MAX_BYTES = 256 * 1024
DEFAULT_MAX_SIDE = 1024
# Longer side to shorter: the transcoder scales it into a box of the frame, and a sliver would scale to nothing
# (or, scaled to a height alone, to a picture far wider than the frame).
MAX_ASPECT = 16
_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_ALPHA_TYPES = {4, 6}  # grey + alpha, RGBA
_DEPTHS = {0: {1, 2, 4, 8, 16}, 2: {8, 16}, 3: {1, 2, 4, 8}, 4: {8, 16}, 6: {8, 16}}  # colour type → bit depths
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
# Adam7: (x0, y0, dx, dy) of each pass
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
_INFLATE_STEP = 64 * 1024


class WatermarkRefused(ValueError):
    """The file is not a PNG vodkit burns in; the message says why, for the uploader."""


@dataclass(frozen=True)
class PngInfo:
    width: int
    height: int


class Placement(BaseModel):
    """Where and how the watermark goes: every length a fraction of the frame's height, so each rung
    shows it alike."""

    position: Position = Field("bottom-right", description="The corner it sits in.")
    margin: float = Field(0.03, ge=0, le=MAX_MARGIN, description="Gap to both edges, a fraction of the height.")
    scale: float = Field(0.1, gt=0, le=MAX_SCALE, description="Its height, a fraction of the frame's height.")
    opacity: float = Field(0.8, ge=0, le=1, description="0 invisible, 1 as opaque as the PNG's own alpha.")


class Watermark(Placement):
    """A stored watermark: the placement, the PNG (base64) and its sides."""

    png: str = Field(description="The PNG, base64.")
    width: int = Field(ge=1, description="The PNG's width in pixels.")
    height: int = Field(ge=1, description="The PNG's height in pixels.")
    updated_at: float = Field(description="When it was set (Unix seconds).")

    @property
    def png_bytes(self) -> bytes:
        return base64.b64decode(self.png)

    @classmethod
    def of(cls, png: bytes, placement: Placement, info: PngInfo, now: float) -> Watermark:
        encoded = base64.b64encode(png).decode()
        return cls(**placement.model_dump(), png=encoded, width=info.width, height=info.height, updated_at=now)


def user_key(user: str) -> str:
    return f"user:{user}"


def video_key(video_id: str) -> str:
    return f"video:{video_id}"


class Watermarks:
    """The `watermarks` collection, typed."""

    def __init__(self, collection: Collection) -> None:
        self._c = collection

    async def get(self, key: str) -> Watermark | None:
        doc = await self._c.get(key)
        return Watermark.model_validate(doc) if doc else None

    async def put(self, key: str, watermark: Watermark) -> None:
        """Store it, replacing any there (a delete racing it may win either way: the last write stands)."""
        doc = watermark.model_dump()
        while True:
            try:
                await self._c.insert(key, doc)
                return
            except DuplicateKey:
                if await self._c.update(key, lambda _: doc) is not None:
                    return

    async def delete(self, key: str) -> bool:
        return await self._c.delete(key)

    async def copy(self, source: str, target: str) -> bool:
        """A snapshot of `source` under `target` (if there is one): later changes to `source` do not reach it."""
        watermark = await self.get(source)
        if watermark is None:
            return False
        await self.put(target, watermark)
        return True


def check_png(data: bytes, max_bytes: int = DEFAULT_MAX_BYTES, max_side: int = DEFAULT_MAX_SIDE) -> PngInfo:
    """The PNG's sides, if it is one vodkit burns in; WatermarkRefused otherwise."""
    if len(data) > max_bytes:
        raise WatermarkRefused(f"a watermark may be at most {max_bytes} bytes")
    if not data.startswith(_SIGNATURE):
        raise WatermarkRefused("not a PNG file")
    chunks = list(_chunks(data))
    if not chunks or chunks[0][0] != b"IHDR" or len(chunks[0][1]) != 13:
        raise WatermarkRefused("a PNG starts with its IHDR chunk")
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    if not (1 <= width <= max_side and 1 <= height <= max_side):
        raise WatermarkRefused(f"a watermark is 1 to {max_side} pixels on each side, not {width}x{height}")
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise WatermarkRefused(f"a watermark's longer side is at most {MAX_ASPECT} times its shorter: {width}x{height}")
    if depth not in _DEPTHS.get(colour, set()) or compression or filtering or interlace > 1:
        raise WatermarkRefused("the PNG's header is not valid")
    names = [name for name, _ in chunks]
    if names[-1] != b"IEND" or names.count(b"IEND") != 1 or b"IDAT" not in names:
        raise WatermarkRefused("the PNG has no image data, or is cut short")
    if colour not in _ALPHA_TYPES and b"tRNS" not in names[: names.index(b"IDAT")]:
        raise WatermarkRefused("the PNG has no transparency: use one with an alpha channel")
    if colour == 3 and b"PLTE" not in names:
        raise WatermarkRefused("the PNG's palette is missing")
    idat = b"".join(body for name, body in chunks if name == b"IDAT")
    _check_inflates_to(idat, _raw_size(width, height, depth * _CHANNELS[colour], interlace == 1))
    return PngInfo(width, height)


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, at = [], len(_SIGNATURE)
    while at < len(data):
        if at + 12 > len(data):
            raise WatermarkRefused("the PNG is cut short")
        (length,) = struct.unpack(">I", data[at : at + 4])
        name, end = data[at + 4 : at + 8], at + 8 + length
        if end + 4 > len(data) or not name.isalpha():
            raise WatermarkRefused("the PNG is cut short or damaged")
        body = data[at + 8 : end]
        if zlib.crc32(name + body) != struct.unpack(">I", data[end : end + 4])[0]:
            raise WatermarkRefused("the PNG is damaged (a chunk's checksum is wrong)")
        chunks.append((name, body))
        at = end + 4
        if name == b"IEND" and at != len(data):
            raise WatermarkRefused("the PNG has bytes after its end")
    return chunks


def _raw_size(width: int, height: int, bits_per_pixel: int, interlaced: bool) -> int:
    """Bytes the image data inflates to: each row's filter byte and its pixels (per Adam7 pass if interlaced)."""
    if not interlaced:
        return height * (1 + (width * bits_per_pixel + 7) // 8)
    size = 0
    for x0, y0, dx, dy in _ADAM7:
        columns, rows = (width - x0 + dx - 1) // dx, (height - y0 + dy - 1) // dy
        if columns > 0 and rows > 0:
            size += rows * (1 + (columns * bits_per_pixel + 7) // 8)
    return size


def _check_inflates_to(compressed: bytes, expected: int) -> None:
    """Inflate in steps, keeping nothing: exactly `expected` bytes, or refused (a bomb stops at `expected` + 1)."""
    inflater, total, pending = zlib.decompressobj(), 0, compressed
    try:
        while pending and total <= expected:
            total += len(inflater.decompress(pending, _INFLATE_STEP))
            pending = inflater.unconsumed_tail
        total += len(inflater.flush()) if total <= expected else 0
    except zlib.error:
        raise WatermarkRefused("the PNG's image data is damaged") from None
    if total != expected or not inflater.eof:
        raise WatermarkRefused("the PNG's image data does not match its size")
