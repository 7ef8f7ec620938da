"""What the transcoder needs to know about a source, from ffprobe."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vodkit_shared.bus import PermanentError
from vodkit_shared.tools import ToolFailed, probe

_STILL_FORMATS = ("image2", "_pipe", "gif", "tty")


class UnsupportedMedia(PermanentError):
    """The upload is not a video vodkit can transcode; retrying will not help."""


_HDR_TRANSFERS = ("smpte2084", "arib-std-b67")  # PQ and HLG


@dataclass(frozen=True)
class SourceInfo:
    width: int  # as displayed, after rotation
    height: int
    duration_s: float
    audio_index: int | None = None  # absolute stream index of the audio track to keep
    hdr: bool = False
    rotation: int = 0

    @property
    def has_audio(self) -> bool:
        return self.audio_index is not None

    def width_at(self, height: int) -> int:
        """The width that keeps the aspect ratio at `height`, rounded to even."""
        return max(2, int(self.width * height / self.height / 2 + 0.5) * 2)


async def inspect(path: Path) -> SourceInfo:
    try:
        info = await probe(path)
    except ToolFailed as error:
        raise UnsupportedMedia(f"not a video file ffmpeg can read ({_last_line(error)})") from None
    return describe(info)


def describe(info: dict[str, Any]) -> SourceInfo:
    streams = info.get("streams", [])
    video = next(
        (s for s in streams if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")),
        None,
    )
    if video is None:
        raise UnsupportedMedia("the file has no video stream")
    fmt = info.get("format", {})
    if any(tag in str(fmt.get("format_name", "")) for tag in _STILL_FORMATS):
        raise UnsupportedMedia(f"a still image ({fmt.get('format_name')}) is not a video")
    duration = _float(fmt.get("duration")) or _float(video.get("duration"))
    if not duration or duration <= 0:
        raise UnsupportedMedia("the video has no duration")
    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    if width <= 0 or height <= 0:
        raise UnsupportedMedia("the video has no frame size")
    rotation = _rotation(video) % 360
    if rotation % 180 == 90:
        width, height = height, width
    hdr = video.get("color_transfer") in _HDR_TRANSFERS
    return SourceInfo(width, height, duration, _default_audio(streams), hdr, rotation)


def _default_audio(streams: list[dict[str, Any]]) -> int | None:
    """The track marked default, else the first audio track."""
    audio = [s for s in streams if s.get("codec_type") == "audio"]
    chosen = next((s for s in audio if s.get("disposition", {}).get("default")), audio[0] if audio else None)
    return int(chosen["index"]) if chosen is not None else None


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


def _last_line(error: ToolFailed) -> str:
    lines = error.stderr_tail.splitlines()
    return lines[-1] if lines else "no detail"
