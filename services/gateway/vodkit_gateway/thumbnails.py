"""A frame at a chosen time: `GET /videos/{id}/thumbnail.jpg?t=12.5&w=640&token=…`.

Made on request from the video's own HLS, never from the source: the smallest rung at least `w` wide
(the widest if none is), the one segment that holds `t` (and the fMP4 init segment), decoded by ffmpeg
with the segment's container forced (`MediaInput.own`), scaled to `w` wide; an encrypted video's
segment is decrypted first with the key its playlist names, as a player would. `t` is rounded to a tenth
of a second and must lie within the video; `w` is an even width from 16 to 1920 px. Each thumbnail is
kept in the gateway's memory, the `thumbnail_cache_entries` asked for last (a least-recently-used
cache), and answered from there next time; shared caches keep it too (`max-age`). Not in the object
store: the gateway may read and delete objects, never write them (its MinIO policy, least privilege).
At most `thumbnail_concurrency` ffmpeg run at once in a gateway; a request waits for its turn.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from vodkit_shared.content_keys import ContentKeys, decrypt_segment, media_sequence, tagged_key
from vodkit_shared.media_input import MediaInput
from vodkit_shared.scratch import scratch_dir
from vodkit_shared.service import ApiError
from vodkit_shared.storage import ObjectNotFound, ObjectStorage
from vodkit_shared.tools import ToolFailed, run

MIN_WIDTH, MAX_WIDTH = 16, 1920
_NUMBER = re.compile(r"^[0-9]{1,6}(\.[0-9]{1,3})?$")
_VARIANT = re.compile(r"#EXT-X-STREAM-INF:[^\n]*RESOLUTION=(\d+)x\d+[^\n]*\n([^\n]+)/playlist\.m3u8")
_SCRATCH_PREFIX = "vodkit-thumbnail-"


@dataclass(frozen=True)
class Wanted:
    tenths: int  # the time, in tenths of a second
    width: int

    @property
    def key_name(self) -> str:
        return f"{self.tenths * 100}-{self.width}.jpg"


def wanted(t: str | None, w: str | None, duration_s: float) -> Wanted:
    """The thumbnail asked for, or a 400 saying what is wrong."""
    if t is None or not _NUMBER.match(t) or float(t) > duration_s:
        raise ApiError(400, "bad_request", f"t must be a time in seconds within the video (0 to {duration_s:.1f})")
    if w is None or not w.isdigit() or not MIN_WIDTH <= int(w) <= MAX_WIDTH or int(w) % 2:
        raise ApiError(400, "bad_request", f"w must be an even width in pixels from {MIN_WIDTH} to {MAX_WIDTH}")
    last_tenth = max(0, math.floor(duration_s * 10) - 1)  # a time at the very end has no frame after it
    return Wanted(min(round(float(t) * 10), last_tenth), int(w))


class Thumbnails:
    def __init__(
        self, storage: ObjectStorage, keys: ContentKeys, concurrency: int, cache_entries: int, work_dir: Path | None
    ) -> None:
        self._storage = storage
        self._keys = keys
        self._turns = asyncio.Semaphore(concurrency)
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._cache_entries = cache_entries
        self._work_dir = work_dir

    async def jpeg(self, video_id: str, want: Wanted) -> bytes:
        key = f"{video_id}/{want.key_name}"
        if (image := self._cache.get(key)) is not None:
            self._cache.move_to_end(key)
            return image
        async with self._turns:
            image = await self._make(video_id, want)
        self._cache[key] = image
        while len(self._cache) > self._cache_entries:
            self._cache.popitem(last=False)
        return image

    def forget(self, video_id: str) -> None:
        """The video is gone: none of its thumbnails is answered again."""
        for key in [k for k in self._cache if k.startswith(f"{video_id}/")]:
            del self._cache[key]

    async def _make(self, video_id: str, want: Wanted) -> bytes:
        hls = f"hls/{video_id}/"
        rung = _rung_for(await self._text(hls + "master.m3u8"), want.width)
        playlist = await self._text(f"{hls}{rung}/playlist.m3u8")
        at = _segment_at(playlist, want.tenths / 10)
        async with scratch_dir(_SCRATCH_PREFIX, self._work_dir) as work:
            media = work / "segment"
            data = await self._clear(video_id, at, await self._storage.get_bytes(f"{hls}{rung}/{at.name}"))
            header = await self._storage.get_bytes(f"{hls}{rung}/{at.init}") if at.init else b""
            await asyncio.to_thread(media.write_bytes, header + data)
            out = work / "thumbnail.jpg"
            container = "mp4" if at.init else "mpegts"
            scale = f"scale={want.width}:-2"
            argv = ["ffmpeg", "-nostdin", "-v", "error", "-y", *MediaInput.own(media, container).args]
            argv += ["-ss", f"{at.offset_s:.3f}", "-frames:v", "1", "-vf", scale, "-q:v", "3", "-f", "image2", str(out)]
            try:
                await run(argv)
                return await asyncio.to_thread(out.read_bytes)
            except (ToolFailed, FileNotFoundError):
                raise ApiError(404, "not_found", "no frame at that time") from None

    async def _clear(self, video_id: str, at: SegmentAt, data: bytes) -> bytes:
        """The segment decrypted, if the playlist says it is encrypted (as a player would decrypt it)."""
        if at.key is None:
            return data
        key = await self._keys.key(video_id, at.key)
        if key is None:
            raise ApiError(404, "not_found", "no frame at that time")
        return await asyncio.to_thread(decrypt_segment, data, key, at.sequence)

    async def _text(self, key: str) -> str:
        try:
            return (await self._storage.get_bytes(key)).decode()
        except ObjectNotFound:
            raise ApiError(404, "not_found", "the video has no renditions to take a thumbnail from") from None


def _rung_for(master: str, width: int) -> str:
    """The smallest rung at least `width` wide, else the widest."""
    variants = sorted((int(w), rung) for w, rung in _VARIANT.findall(master))
    if not variants:
        raise ApiError(404, "not_found", "the video has no renditions to take a thumbnail from")
    return str(next((rung for w, rung in variants if w >= width), variants[-1][1]))


@dataclass(frozen=True)
class SegmentAt:
    """The segment that holds a time, and what it takes to decode it."""

    name: str
    offset_s: float  # how far into the segment the time is
    init: str | None  # the fMP4 init segment, if any
    key: int | None  # the key's index, if the segment is encrypted (AES-128)
    sequence: int  # its media sequence number: an encrypted segment's IV


def _segment_at(playlist: str, t: float) -> SegmentAt:
    init = re.search(r'#EXT-X-MAP:URI="([^"?]+)"', playlist)
    sequence = media_sequence(playlist)
    start, duration, key, chosen = 0.0, None, None, None
    for line in playlist.splitlines():
        if line.startswith("#EXT-X-KEY:"):
            key = tagged_key(line)
        elif line.startswith("#EXTINF:"):
            duration = float(line[len("#EXTINF:") :].split(",")[0])
        elif line and not line.startswith("#") and duration is not None:
            chosen = SegmentAt(line.split("?")[0], max(0.0, t - start), init.group(1) if init else None, key, sequence)
            if t < start + duration:
                break
            start, duration, sequence = start + duration, None, sequence + 1
    if chosen is None:
        raise ApiError(404, "not_found", "the video has no renditions to take a thumbnail from")
    return chosen
