"""The video's watermark, burned into the frames before the ladder splits them (and into the preview).

The gateway keeps it in the metadata store (`vodkit_shared.watermarks`); the job reads the video's own
record at its start, checks the PNG again (the store is shared: defence in depth), and writes it into the
job's scratch space, where ffmpeg opens it with its demuxer forced (`png_pipe`) and the file protocol
alone. Every length is a fraction of the frame's height, so the ladder overlays it once on the source's
frames and every rung, scaled down with them, shows it alike. It is scaled into a box as wide as the frame
and its share of the height, keeping its aspect ratio: no PNG makes a picture wider than the frame.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ffmpeg

from vodkit_shared.media_input import MediaInput
from vodkit_shared.watermarks import MAX_ASPECT, Placement, Watermarks, check_png, video_key
from vodkit_transcoder.errors import TranscodeRefused

FILE_NAME = "watermark.png"
# The gateway's limits are tighter (a setting); these only bound what a record in the store may make us read.
_MAX_BYTES = 4 * 1024 * 1024
_MAX_SIDE = 4096


@dataclass(frozen=True)
class Overlay:
    """A watermark ready to burn in: the PNG in scratch space and where it goes."""

    png: Path
    placement: Placement

    @property
    def input(self) -> MediaInput:
        return MediaInput.own(self.png, "png_pipe")

    def geometry(self, frame_width: int, frame_height: int) -> tuple[int, int, str, str]:
        """The box it is scaled into (its share of the height, no wider than the frame) in pixels, and the
        overlay's x and y expressions on a frame `frame_width` by `frame_height`."""
        # at least MAX_ASPECT high: a PNG of the tallest shape accepted still scales to a pixel's width
        height = max(MAX_ASPECT, round(self.placement.scale * frame_height))
        margin = round(self.placement.margin * frame_height)
        x = f"main_w-overlay_w-{margin}" if self.placement.position.endswith("right") else str(margin)
        y = f"main_h-overlay_h-{margin}" if self.placement.position.startswith("bottom") else str(margin)
        return frame_width, height, x, y

    def burn(self, video: Any, frame_width: int, frame_height: int) -> Any:
        """`video` (an ffmpeg-python stream of frames `frame_width` by `frame_height`) with the watermark on it."""
        width, height, x, y = self.geometry(frame_width, frame_height)
        mark = ffmpeg.input(self.input.url, **self.input.options).video
        mark = mark.filter("scale", w=width, h=height, force_original_aspect_ratio="decrease").filter("format", "rgba")
        mark = mark.filter("colorchannelmixer", aa=self.placement.opacity)
        return ffmpeg.overlay(video, mark, x=x, y=y, eof_action="repeat")

    def graph(self, main: str, frame_width: int, frame_height: int, input_index: int, out: str) -> str:
        """The same as a -filter_complex fragment: `[main]` with the watermark (input `input_index`) as `[out]`."""
        width, height, x, y = self.geometry(frame_width, frame_height)
        scale = f"scale=w={width}:h={height}:force_original_aspect_ratio=decrease"
        mark = f"[{input_index}:v]{scale},format=rgba,colorchannelmixer=aa={self.placement.opacity}[mark]"
        return f"{mark};[{main}][mark]overlay=x={x}:y={y}:eof_action=repeat[{out}]"


async def fetch_overlay(watermarks: Watermarks | None, video_id: str, work: Path) -> Overlay | None:
    """The video's watermark written into `work`, or None if it has none."""
    if watermarks is None:
        return None
    record = await watermarks.get(video_key(video_id))
    if record is None:
        return None
    return await overlay_of(record.png_bytes, Placement.model_validate(record.model_dump()), work)


async def overlay_of(png: bytes, placement: Placement, work: Path) -> Overlay:
    """`png` checked again and written into `work`: TranscodeRefused if it fails the check."""
    try:
        await asyncio.to_thread(check_png, png, _MAX_BYTES, _MAX_SIDE)  # off the loop: up to ~0.3 s of CPU
    except ValueError as refused:  # the gateway checked it: a record that fails here was not written by it
        raise TranscodeRefused(f"the video's watermark cannot be used ({refused})") from None
    path = work / FILE_NAME
    await asyncio.to_thread(path.write_bytes, png)
    return Overlay(path, placement)
