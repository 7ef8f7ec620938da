"""One ffmpeg process for the whole ladder: decode once, split, scale, encode every rung.

Keyframes are forced at every multiple of the segment length in every rung, so the packager
cuts segments by stream copy and the rungs' segments line up for adaptive switching. The last
branch writes the storyboard's thumbnails, tiled into sheets from that file afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ffmpeg

from vodkit_shared.media_input import MediaInput
from vodkit_shared.tools import ToolFailed, run_with_lines
from vodkit_transcoder.artwork import STORYBOARD_DIR, Storyboard, tile_storyboard
from vodkit_transcoder.errors import UnsupportedMedia
from vodkit_transcoder.hwaccel import Encoder
from vodkit_transcoder.ladder import Rung
from vodkit_transcoder.source import SourceInfo

ProgressCallback = Callable[[float], Awaitable[None]]
# What ffmpeg says when the input itself is broken: retrying will not help.
_UNDECODABLE = (
    "Invalid data found",
    "corrupt",
    "Error while decoding",
    "moov atom not found",
    "Invalid NAL unit",
    "error reading header",
    "Error splitting the input",
)


@dataclass(frozen=True)
class EncodeJob:
    source: Path
    info: SourceInfo
    rungs: list[Rung]
    segment_s: int
    preset: str
    out_dir: Path
    encoder: Encoder = "libx264"
    threads: int = 0  # for the decoder, the filters and each encoder; 0: ffmpeg's choice (the node's cores)
    nice: int = 0  # CPU niceness of the pass (every thread of it): > 0 while a preview runs beside it

    def output(self, rung: Rung) -> Path:
        return self.out_dir / f"{rung.name}.mp4"

    @property
    def storyboard(self) -> Storyboard:
        return Storyboard.plan(self.info)

    @property
    def storyboard_dir(self) -> Path:
        return self.out_dir / STORYBOARD_DIR

    @property
    def thumbnails(self) -> Path:
        """The storyboard's thumbnails as the ladder pass writes them (lossless), before tiling."""
        return self.out_dir / "thumbnails.mkv"

    @property
    def on_gpu(self) -> bool:
        """NVENC, unless the source needs a CPU filter first (tonemapping, autorotation)."""
        return self.encoder == "nvenc" and not self.info.hdr and self.info.rotation == 0


def command(job: EncodeJob) -> list[str]:
    gpu = job.on_gpu
    decode = {"hwaccel": "cuda", "hwaccel_output_format": "cuda"} if gpu else {}  # frames stay on the GPU
    upload = MediaInput.untrusted(job.source)  # its content cannot make ffmpeg open another file
    threads = {"threads": job.threads} if job.threads else {}
    source = ffmpeg.input(upload.url, **upload.options, **decode, **threads)
    video = tonemapped(source.video) if job.info.hdr else source.video
    split = video.filter_multi_output("split", len(job.rungs) + 1)  # the last branch feeds the storyboard
    outputs = [_storyboard_output(job, split.stream(len(job.rungs)), gpu)]
    for index, rung in enumerate(job.rungs):
        width, branch = job.info.width_at(rung.height), split.stream(index)
        if gpu:
            scaled = branch.filter("scale_cuda", width, rung.height, format="yuv420p")
        else:
            scaled = branch.filter("scale", width, rung.height).filter("format", "yuv420p")
        streams = [scaled, source[str(job.info.audio_index)]] if job.info.has_audio else [scaled]
        audio = {"acodec": "aac", "b:a": "128k", "ac": 2} if job.info.has_audio else {}
        outputs.append(ffmpeg.output(*streams, str(job.output(rung)), **_video_options(job, rung, gpu), **audio))
    # -xerror: a damaged source fails loudly instead of yielding a silently truncated video.
    merged = ffmpeg.merge_outputs(*outputs).global_args("-nostdin", "-nostats", "-xerror", "-progress", "pipe:1")
    if job.threads:
        merged = merged.global_args("-filter_threads", str(job.threads))
    argv = [str(arg) for arg in merged.overwrite_output().compile()]
    return ["nice", "-n", str(job.nice), *argv] if job.nice else argv


def _storyboard_output(job: EncodeJob, branch: Any, gpu: bool) -> Any:
    board = job.storyboard
    thumbs = branch.filter("fps", f"1/{board.interval_s}")
    if gpu:
        thumbs = thumbs.filter("scale_cuda", board.thumb_width, board.thumb_height).filter("hwdownload")
        thumbs = thumbs.filter("format", "nv12")
    else:
        thumbs = thumbs.filter("scale", board.thumb_width, board.thumb_height)
    # Thumbnails, not sheets. ffmpeg 5.1 prints no progress at all until every output has written its
    # header, and a `tile` output writes its header with its first sheet: 25 thumbnails in (50 s of
    # source at the least), or at the very end of a shorter clip. The rungs encoded all along unseen.
    return ffmpeg.output(thumbs, str(job.thumbnails), vcodec="ffv1", f="matroska")


def _video_options(job: EncodeJob, rung: Rung, gpu: bool) -> dict[str, Any]:
    """CRF 23 (or NVENC's constant-quality 23) under a VBV cap, keyframes on segment boundaries."""
    common = {
        "profile": "high",
        "maxrate": f"{rung.maxrate_kbps}k",
        "bufsize": f"{rung.bufsize_kbps}k",
        "force_key_frames": f"expr:gte(t,n_forced*{job.segment_s})",
        "fpsmax": 60,
        "movflags": "+faststart",
        **({"threads": job.threads} if job.threads else {}),
    }
    if gpu:
        return {
            **common,
            "vcodec": "h264_nvenc",
            "preset": "p5",
            "tune": "hq",
            "rc": "vbr",
            "cq": 23,
            "b:v": 0,
            "forced-idr": 1,
        }
    return {**common, "vcodec": "libx264", "preset": job.preset, "crf": 23}


def tonemapped(video: Any) -> Any:
    """HDR (PQ or HLG) to SDR BT.709, once, before the ladder splits."""
    return (
        video.filter("zscale", t="linear", npl=100)
        .filter("format", "gbrpf32le")
        .filter("zscale", p="bt709")
        .filter("tonemap", "hable", desat=0)
        .filter("zscale", t="bt709", m="bt709", r="tv")
    )


async def encode(job: EncodeJob, on_progress: ProgressCallback) -> None:
    """Run the ladder encode, reporting the share done (0-100) as ffmpeg goes."""
    await asyncio.to_thread(job.storyboard_dir.mkdir, parents=True, exist_ok=True)
    try:
        async for line in run_with_lines(command(job)):
            key, _, value = line.partition("=")
            if key == "out_time_us" and value.isdigit():
                await on_progress(min(100.0, int(value) / 1e6 / job.info.duration_s * 100))
    except ToolFailed as error:
        if any(marker in error.stderr_tail for marker in _UNDECODABLE):
            raise UnsupportedMedia(f"the video cannot be decoded ({error.last_line})") from None
        raise  # a crash, a kill for memory, a full disk: worth retrying
    await tile_storyboard(job.thumbnails, job.storyboard_dir / job.storyboard.sprite_pattern)
