"""HLS for one rendition (stream copy, no re-encode) and the master playlist over all of them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from vodkit_shared.media_input import MediaInput
from vodkit_shared.tools import probe, run

PLAYLIST = "playlist.m3u8"
_AVC_PROFILES = {"baseline": "42", "constrained baseline": "42", "main": "4d", "high": "64"}


class Variant(BaseModel):
    """One rung as the master playlist lists it."""

    rung: str
    width: int
    height: int
    bandwidth: int  # peak segment bitrate, bits/s: the HLS spec's BANDWIDTH
    average_bandwidth: int
    codecs: str
    # the first video presentation timestamp (90 kHz) of its segments as a player reads them, measured on
    # the clear segments before any encryption; None for a variant recorded before it was measured
    first_pts: int | None = None


@dataclass(frozen=True)
class Segment:
    name: str
    duration_s: float


@dataclass(frozen=True)
class SegmentFormat:
    """MPEG-TS (the seed's, every player) or fMP4/CMAF (one init segment, then fragments)."""

    name: str
    extension: str
    content_type: str
    hls_version: int  # fMP4 needs EXT-X-MAP, HLS version 7 in practice


FORMATS = {
    "mpegts": SegmentFormat("mpegts", "ts", "video/mp2t", 3),
    "fmp4": SegmentFormat("fmp4", "m4s", "video/mp4", 7),
}
INIT_SEGMENT = "init.mp4"


async def segment(rendition: Path, out_dir: Path, segment_s: int, fmt: SegmentFormat) -> list[Segment]:
    """Cut the rendition at its (aligned) keyframes by stream copy; returns the playlist's segments."""
    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    argv = [
        "ffmpeg",
        "-nostdin",
        "-v",
        "error",
        *MediaInput.own(rendition).args,  # our own MP4: its container forced, no other file opened
        "-map",
        "0",
        "-c",
        "copy",
        "-f",
        "hls",
        "-hls_time",
        str(segment_s),
        "-hls_playlist_type",
        "vod",
        "-hls_segment_type",
        fmt.name,
        "-hls_segment_filename",
        str(out_dir / f"seg_%05d.{fmt.extension}"),
    ]
    if fmt.name == "fmp4":
        argv += ["-hls_fmp4_init_filename", INIT_SEGMENT]
    await run([*argv, str(out_dir / PLAYLIST)])
    return parse_media_playlist(await asyncio.to_thread((out_dir / PLAYLIST).read_text))


async def first_pts(segment_path: Path, init: Path | None, scratch: Path) -> int:
    """The first video presentation timestamp (90 kHz) of a clear segment, as a player reads it.

    The MPEG-TS muxer shifts every timestamp (by 1.4 s with ffmpeg's defaults), fMP4 keeps the
    rendition's; an fMP4 fragment is read after its `init` segment (joined in `scratch`, the segment
    itself left as it is). Audio alone: the audio's start."""
    if init is None:
        return await _start_pts(MediaInput.own(segment_path, "mpegts"))
    joined = scratch / "first_segment.mp4"
    await asyncio.to_thread(lambda: joined.write_bytes(init.read_bytes() + segment_path.read_bytes()))
    return await _start_pts(MediaInput.own(joined, "mp4"))


async def _start_pts(media: MediaInput) -> int:
    streams = (await probe(media))["streams"]
    video = [s for s in streams if s.get("codec_type") == "video"] or streams
    return round(float(video[0].get("start_time", 0)) * 90_000)


def parse_media_playlist(text: str) -> list[Segment]:
    segments: list[Segment] = []
    duration: float | None = None
    for line in text.splitlines():
        if line.startswith("#EXTINF:"):
            duration = float(line[len("#EXTINF:") :].split(",")[0])
        elif line and not line.startswith("#") and duration is not None:
            segments.append(Segment(line, duration))
            duration = None
    return segments


async def describe_variant(rung: str, rendition: Path, out_dir: Path, segments: list[Segment]) -> Variant:
    info = await probe(MediaInput.own(rendition))
    video: dict[str, Any] = next((s for s in info["streams"] if s.get("codec_type") == "video"), {})  # none: audio
    sizes = await asyncio.to_thread(lambda: [(out_dir / s.name).stat().st_size for s in segments])
    rates = [size * 8 / s.duration_s for size, s in zip(sizes, segments, strict=True) if s.duration_s > 0]
    total_s = sum(s.duration_s for s in segments)
    return Variant(
        rung=rung,
        width=int(video.get("width", 0)),
        height=int(video.get("height", 0)),
        bandwidth=int(max(rates)),
        average_bandwidth=int(sum(sizes) * 8 / total_s),
        codecs=codecs(info["streams"]),
    )


def codecs(streams: list[dict[str, Any]]) -> str:
    """RFC 6381 codec strings: avc1.PPCCLL for H.264, mp4a.40.2 for AAC-LC."""
    names = []
    for stream in streams:
        if stream.get("codec_name") == "h264":
            profile = _AVC_PROFILES.get(str(stream.get("profile", "")).lower(), "64")
            names.append(f"avc1.{profile}00{int(stream.get('level', 40)):02x}")
        elif stream.get("codec_name") == "aac":
            names.append("mp4a.40.2")
    return ",".join(names)


@dataclass(frozen=True)
class SubtitleRendition:
    """A subtitle track as the master lists it (`subtitles/{language}/{revision}/playlist.m3u8`, see subtitles.py)."""

    language: str  # BCP 47, as `vodkit_shared.captions.LANGUAGE_PATTERN` allows
    label: str  # the gateway allows no '"' and no line break in it
    default: bool
    revision: int  # each version of a track has its own objects, never replaced under their names

    @property
    def path(self) -> str:
        """Its folder, relative to the master."""
        return subtitle_path(self.language, self.revision)


def subtitle_path(language: str, revision: int) -> str:
    return f"subtitles/{language}/{revision:08d}/"


SUBTITLE_GROUP = "subs"


def master_playlist(
    variants: list[Variant], fmt: SegmentFormat = FORMATS["mpegts"], subtitles: Sequence[SubtitleRendition] = ()
) -> str:
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{fmt.hls_version}", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for track in subtitles:
        lines.append(
            f'#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="{SUBTITLE_GROUP}",NAME="{track.label}",'
            f'LANGUAGE="{track.language}",DEFAULT={"YES" if track.default else "NO"},AUTOSELECT=YES,FORCED=NO,'
            f'URI="{track.path}{PLAYLIST}"'
        )
    group = f',SUBTITLES="{SUBTITLE_GROUP}"' if subtitles else ""
    for v in sorted(variants, key=lambda v: v.height, reverse=True):
        resolution = f"RESOLUTION={v.width}x{v.height}," if v.height else ""  # none for audio alone
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={v.bandwidth},AVERAGE-BANDWIDTH={v.average_bandwidth},"
            f'{resolution}CODECS="{v.codecs}"{group}'
        )
        lines.append(f"{v.rung}/{PLAYLIST}")
    return "\n".join(lines) + "\n"
