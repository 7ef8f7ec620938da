"""Poster and storyboard: what a player shows before playing and while scrubbing.

The storyboard's thumbnails come from the ladder's own decode (one more branch of its split, written
losslessly), tiled afterwards into JPEG sprite sheets, with a WebVTT index whose cues point into the sheets
(`sprite_000.jpg#xywh=x,y,w,h`), the form players' thumbnail plugins read.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from pathlib import Path

from vodkit_shared.media_input import MediaInput
from vodkit_shared.tools import run
from vodkit_transcoder.source import SourceInfo

THUMB_HEIGHT = 90
COLUMNS, ROWS = 5, 5
MAX_THUMBNAILS = 200
STORYBOARD_DIR = "storyboard"
VTT = "storyboard.vtt"
POSTER = "poster.jpg"
WAVE_WIDTH, WAVE_HEIGHT = 1280, 720  # an audio-only source's poster: its waveform, 16:9
WAVE_COLOUR = "0x4f8cff"


@dataclass(frozen=True)
class Storyboard:
    interval_s: int
    thumb_width: int
    thumb_height: int
    duration_s: float

    @classmethod
    def plan(cls, info: SourceInfo) -> Storyboard:
        interval = max(2, math.ceil(info.duration_s / MAX_THUMBNAILS))
        width = WAVE_WIDTH * THUMB_HEIGHT // WAVE_HEIGHT if info.audio_only else info.width_at(THUMB_HEIGHT)
        return cls(interval, width, THUMB_HEIGHT, info.duration_s)

    @property
    def count(self) -> int:
        return max(1, math.ceil(self.duration_s / self.interval_s))

    @property
    def sprite_pattern(self) -> str:
        return "sprite_%03d.jpg"

    def vtt(self) -> str:
        per_sheet = COLUMNS * ROWS
        lines = ["WEBVTT", ""]
        for i in range(self.count):
            start, end = i * self.interval_s, min((i + 1) * self.interval_s, self.duration_s)
            cell = i % per_sheet
            x, y = (cell % COLUMNS) * self.thumb_width, (cell // COLUMNS) * self.thumb_height
            lines += [
                f"{_timestamp(start)} --> {_timestamp(end)}",
                f"sprite_{i // per_sheet:03d}.jpg#xywh={x},{y},{self.thumb_width},{self.thumb_height}",
                "",
            ]
        return "\n".join(lines)


def _timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    return f"{millis // 3_600_000:02d}:{millis // 60_000 % 60:02d}:{millis // 1000 % 60:02d}.{millis % 1000:03d}"


async def tile_storyboard(thumbnails: Path, sprites: Path) -> None:
    """Tile the ladder pass's thumbnails (our own lossless file) into the JPEG sheets; the file is removed."""
    await run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-y",
            *MediaInput.own(thumbnails, "matroska").args,
            "-vf",
            f"tile={COLUMNS}x{ROWS}",
            "-q:v",
            "5",
            "-start_number",
            "0",
            str(sprites),
        ]
    )
    await asyncio.to_thread(thumbnails.unlink)


async def waveform_artwork(audio: Path, board: Storyboard, poster: Path, thumbnails: Path) -> None:
    """An audio-only source's artwork from its rendition (our own file): the whole waveform as the poster,
    and for the storyboard one picture of each interval's waveform (`showwaves` at one frame an interval)."""
    own = MediaInput.own(audio).args
    picture = f"showwavespic=s={WAVE_WIDTH}x{WAVE_HEIGHT}:colors={WAVE_COLOUR}"
    await run(["ffmpeg", "-nostdin", "-v", "error", "-y", *own, "-lavfi", picture, "-frames:v", "1", str(poster)])
    size = f"{board.thumb_width}x{board.thumb_height}"
    waves = f"showwaves=s={size}:mode=cline:rate=1/{board.interval_s}:colors={WAVE_COLOUR},format=yuv420p"
    await _lossless_thumbnails(audio, waves, thumbnails)


async def storyboard_from(rendition: Path, board: Storyboard, thumbnails: Path, sprites: Path) -> None:
    """The storyboard from one of our renditions (a chunked ladder has no single pass to branch it from)."""
    scaled = f"fps=1/{board.interval_s},scale={board.thumb_width}:{board.thumb_height}"
    await _lossless_thumbnails(rendition, scaled, thumbnails)
    await tile_storyboard(thumbnails, sprites / board.sprite_pattern)


async def _lossless_thumbnails(media: Path, graph: str, thumbnails: Path) -> None:
    """`graph`'s pictures from our own MP4, written losslessly for `tile_storyboard`."""
    own = MediaInput.own(media).args
    await run(["ffmpeg", "-nostdin", "-v", "error", "-y", *own, "-lavfi", graph, "-c:v", "ffv1", "-f", "matroska",
               str(thumbnails)])  # fmt: skip


async def extract_poster(rendition: Path, duration_s: float, poster: Path) -> None:
    """A frame a tenth of the way in (at most 10 s): past fades from black, early enough to be typical."""
    at = min(duration_s / 10, 10.0)
    await run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-ss",
            f"{at:.3f}",
            *MediaInput.own(rendition).args,
            "-frames:v",
            "1",
            "-q:v",
            "3",
            str(poster),
        ]
    )
