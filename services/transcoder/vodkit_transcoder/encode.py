"""One ffmpeg process for the whole ladder: decode once, split, scale, encode every rung.

Keyframes are forced at every multiple of the segment length in every rung, so the packager
cuts segments by stream copy and the rungs' segments line up for adaptive switching.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from vodkit_shared.tools import run_with_lines
from vodkit_transcoder.ladder import Rung
from vodkit_transcoder.source import SourceInfo

ProgressCallback = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class EncodeJob:
    source: Path
    info: SourceInfo
    rungs: list[Rung]
    segment_s: int
    preset: str
    out_dir: Path

    def output(self, rung: Rung) -> Path:
        return self.out_dir / f"{rung.name}.mp4"


def command(job: EncodeJob) -> list[str]:
    source = ffmpeg.input(str(job.source))
    split = source.video.filter_multi_output("split", len(job.rungs))
    outputs = []
    for index, rung in enumerate(job.rungs):
        video = split.stream(index).filter("scale", -2, rung.height).filter("format", "yuv420p")
        streams = [video, source["a:0"]] if job.info.has_audio else [video]
        audio = {"acodec": "aac", "b:a": "128k", "ac": 2} if job.info.has_audio else {}
        outputs.append(
            ffmpeg.output(
                *streams,
                str(job.output(rung)),
                vcodec="libx264",
                preset=job.preset,
                crf=23,
                profile="high",
                maxrate=f"{rung.maxrate_kbps}k",
                bufsize=f"{rung.bufsize_kbps}k",
                force_key_frames=f"expr:gte(t,n_forced*{job.segment_s})",
                fpsmax=60,
                movflags="+faststart",
                **audio,
            )
        )
    merged = ffmpeg.merge_outputs(*outputs).global_args("-nostdin", "-nostats", "-progress", "pipe:1")
    return [str(arg) for arg in merged.overwrite_output().compile()]


async def encode(job: EncodeJob, on_progress: ProgressCallback) -> None:
    """Run the ladder encode, reporting the share done (0-100) as ffmpeg goes."""
    async for line in run_with_lines(command(job)):
        key, _, value = line.partition("=")
        if key == "out_time_us" and value.isdigit():
            await on_progress(min(100.0, int(value) / 1e6 / job.info.duration_s * 100))
