"""What the transcoder needs to know about a source, from ffprobe, and what it refuses to transcode.

The source is probed confined (`MediaInput.untrusted`: real video containers only, no file but
itself), then held to `SourceLimits` before anything decodes it: a frame size no encoder should be
asked to allocate, a duration beyond the service's, or a few kilobytes claiming hours (a decode bomb:
two frames ten hours apart become millions of encoded frames).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vodkit_shared.media_input import HEAD_BYTES, MediaInput, refusal
from vodkit_shared.rungs import MIN_RUNG_HEIGHT
from vodkit_shared.tools import ToolFailed, probe
from vodkit_transcoder.errors import UnsupportedMedia

_STILL_FORMATS = ("image2", "_pipe", "gif", "tty")


_HDR_TRANSFERS = ("smpte2084", "arib-std-b67")  # PQ and HLG
# Containers whose seeking lands on the keyframe before the time asked for. MPEG-TS (and -PS) seek by
# byte position and may land after it: a chunk cut from there would lose frames.
_INDEXED = ("mov", "matroska")


@dataclass(frozen=True)
class SourceInfo:
    width: int  # as displayed, after rotation
    height: int
    duration_s: float
    audio_index: int | None = None  # absolute stream index of the audio track to keep
    hdr: bool = False
    rotation: int = 0
    audio_offset_s: float = 0.0  # the audio track's start after the video's (negative: before)
    start_s: float = 0.0  # the file's first timestamp (an edit list's offset, say): its clock's zero
    seeks_exactly: bool = False  # its container has an index ffmpeg seeks by (MP4/MOV, Matroska/WebM)

    @property
    def has_audio(self) -> bool:
        return self.audio_index is not None

    @property
    def audio_only(self) -> bool:
        """Audio and no picture (a podcast; cover art is not a picture to play): one rung, `audio`."""
        return self.height == 0

    def width_at(self, height: int) -> int:
        """The width that keeps the aspect ratio at `height`, rounded to even."""
        return max(2, int(self.width * height / self.height / 2 + 0.5) * 2)


@dataclass(frozen=True)
class SourceLimits:
    max_side: int = 8192
    max_pixels: int = 8192 * 4320  # DCI 8K
    min_side: int = MIN_RUNG_HEIGHT  # below it a rung could not be named, served or encoded sensibly
    max_duration_s: float = 12 * 3600
    max_frame_rate: float = 1000.0
    min_bytes_per_s: float = 256.0  # 2 kbit/s: below any real video, far above a decode bomb


async def inspect(path: Path, limits: SourceLimits = SourceLimits()) -> SourceInfo:
    try:
        info = await probe(MediaInput.untrusted(path))
    except ToolFailed as error:
        raise UnsupportedMedia(refusal(error.stderr_tail, await asyncio.to_thread(_head, path))) from None
    size = (await asyncio.to_thread(path.stat)).st_size
    return describe(info, size, limits)


def _head(path: Path) -> bytes:
    with path.open("rb") as file:
        return file.read(HEAD_BYTES)


def describe(info: dict[str, Any], size: int | None = None, limits: SourceLimits = SourceLimits()) -> SourceInfo:
    streams = info.get("streams", [])
    video = next(
        (s for s in streams if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")),
        None,
    )
    fmt = info.get("format", {})
    if video is None:
        return _audio_only(streams, fmt, size, limits)
    if any(tag in str(fmt.get("format_name", "")) for tag in _STILL_FORMATS):
        raise UnsupportedMedia(f"a still image ({fmt.get('format_name')}) is not a video")
    duration = _float(fmt.get("duration")) or _float(video.get("duration"))
    if not duration or duration <= 0:
        raise UnsupportedMedia("the video has no duration")
    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    if width <= 0 or height <= 0:
        # ffmpeg zeroes a size it will not allocate ((w+128)*(h+128) beyond INT_MAX/8, e.g. 30000x30000)
        raise UnsupportedMedia("the video has no usable frame size (none stated, or too large to decode)")
    _check_limits(video, width, height, duration, size, limits)
    rotation = _rotation(video) % 360
    if rotation % 180 == 90:
        width, height = height, width
    hdr = video.get("color_transfer") in _HDR_TRANSFERS
    audio = _default_audio(streams)
    start = _float(fmt.get("start_time")) or 0.0
    indexed = str(fmt.get("format_name", "")).split(",")[0] in _INDEXED
    offset = _audio_offset(streams, video, audio)
    return SourceInfo(width, height, duration, audio, hdr, rotation, offset, start, indexed)


def _audio_only(
    streams: list[dict[str, Any]], fmt: dict[str, Any], size: int | None, limits: SourceLimits
) -> SourceInfo:
    audio = _default_audio(streams)
    if audio is None:
        raise UnsupportedMedia("the file has no video or audio stream")
    track = next(s for s in streams if s.get("index") == audio)
    duration = _float(fmt.get("duration")) or _float(track.get("duration"))
    if not duration or duration <= 0:
        raise UnsupportedMedia("the audio has no duration")
    _check_span(duration, size, limits)
    return SourceInfo(0, 0, duration, audio)


def _check_span(duration: float, size: int | None, limits: SourceLimits) -> None:
    if duration > limits.max_duration_s:
        raise UnsupportedMedia(f"the video lasts {_span(duration)}, more than {_span(limits.max_duration_s)}")
    if size is not None and size / duration < limits.min_bytes_per_s:
        raise UnsupportedMedia(
            f"the file claims {duration:.0f} s of video in {size:,} bytes, a duration it cannot contain"
        )


def _check_limits(
    video: dict[str, Any], width: int, height: int, duration: float, size: int | None, limits: SourceLimits
) -> None:
    if max(width, height) > limits.max_side or width * height > limits.max_pixels:
        raise UnsupportedMedia(
            f"the frame size {width}x{height} is larger than vodkit transcodes "
            f"(at most {limits.max_side} px a side and {limits.max_pixels:,} pixels)"
        )
    if min(width, height) < limits.min_side:
        raise UnsupportedMedia(f"the frame size {width}x{height} is below {limits.min_side} px a side")
    rate = _rate(video.get("avg_frame_rate"))  # not r_frame_rate: a variable rate's timebase can be high
    if rate is not None and rate > limits.max_frame_rate:
        raise UnsupportedMedia(f"a frame rate of {rate:.0f} per second is not one vodkit transcodes")
    _check_span(duration, size, limits)


def _span(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds:.0f} s"


def _rate(value: Any) -> float | None:
    """ffprobe's "30000/1001"; None for "0/0" or nothing."""
    numerator, _, denominator = str(value or "").partition("/")
    top, bottom = _float(numerator), _float(denominator or "1")
    return top / bottom if top and bottom else None


def _default_audio(streams: list[dict[str, Any]]) -> int | None:
    """The track marked default, else the first audio track."""
    audio = [s for s in streams if s.get("codec_type") == "audio"]
    chosen = next((s for s in audio if s.get("disposition", {}).get("default")), audio[0] if audio else None)
    return int(chosen["index"]) if chosen is not None else None


def _audio_offset(streams: list[dict[str, Any]], video: dict[str, Any], audio_index: int | None) -> float:
    audio = next((s for s in streams if audio_index is not None and s.get("index") == audio_index), None)
    if audio is None:
        return 0.0
    return (_float(audio.get("start_time")) or 0.0) - (_float(video.get("start_time")) or 0.0)


def _rotation(stream: dict[str, Any]) -> int:
    for side in stream.get("side_data_list", []):
        if "rotation" in side:
            return abs(int(float(side["rotation"])))
    return abs(int(_float(stream.get("tags", {}).get("rotate")) or 0))


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
