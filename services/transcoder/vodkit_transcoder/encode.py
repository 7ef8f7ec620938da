"""One ffmpeg process for the whole ladder: decode once, split, scale, encode every rung.

Keyframes are forced at every multiple of the segment length in every rung, so the packager
cuts segments by stream copy and the rungs' segments line up for adaptive switching. The last
branch writes the storyboard's thumbnails, tiled into sheets from that file afterwards.

A chunk of a long source (`EncodeJob.window`, see chunks.py) is the same graph over a window of the
source, video only, written as MPEG-TS on the source's own clock (`-copyts`, a 90 kHz encoder clock,
a constant offset so no chunk's timestamps are shifted by the muxer): the chunks of a rung, laid end
to end, are one stream with no gap or overlap, and `stitch` puts them and the audio (`encode_audio`,
once for the whole source) into the rendition by stream copy.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ffmpeg

from vodkit_shared.media_input import MediaInput
from vodkit_shared.tools import ToolFailed, probe, run, run_with_lines
from vodkit_transcoder.artwork import STORYBOARD_DIR, Storyboard, tile_storyboard
from vodkit_transcoder.errors import UnsupportedMedia
from vodkit_transcoder.hwaccel import Encoder
from vodkit_transcoder.jobs import Chunk
from vodkit_transcoder.ladder import Rung
from vodkit_transcoder.source import SourceInfo
from vodkit_transcoder.watermark import Overlay

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
AUDIO = {"acodec": "aac", "b:a": "128k", "ac": 2}  # every rendition's audio
CHUNK_TS_OFFSET_S = 10  # above any B-frame delay: no chunk's first timestamps go negative, none is shifted
CHUNK_SEEK_MARGIN_S = 1  # the input seeks this far before a chunk, and `trim` cuts it exactly


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
    window: Chunk | None = None  # a chunk of the source only (video, as MPEG-TS); None: the whole source
    watermark: Overlay | None = None  # burned in once, before the split: every rung carries it

    def output(self, rung: Rung) -> Path:
        return self.out_dir / (f"{rung.name}.ts" if self.window else f"{rung.name}.mp4")

    def keyframe_times(self) -> str:
        """A chunk's segment starts on the source's clock (a 90 kHz encoder clock keeps them exact)."""
        assert self.window is not None
        end = self.window.end_s if self.window.end_s is not None else self.info.duration_s
        starts, t = [], self.window.start_s
        while t < end:
            starts.append(f"{t + self.info.start_s:g}")
            t += self.segment_s
        return ",".join(starts)

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
        """NVENC, unless the frames need a CPU filter first (tonemapping, autorotation, a watermark's overlay)."""
        cpu_filters = self.info.hdr or self.info.rotation != 0 or self.watermark is not None
        return self.encoder == "nvenc" and not cpu_filters


def command(job: EncodeJob) -> list[str]:
    gpu = job.on_gpu
    decode = {"hwaccel": "cuda", "hwaccel_output_format": "cuda"} if gpu else {}  # frames stay on the GPU
    upload = MediaInput.untrusted(job.source)  # its content cannot make ffmpeg open another file
    threads = {"threads": job.threads} if job.threads else {}
    window = job.window
    seek = {"ss": f"{window.start_s - CHUNK_SEEK_MARGIN_S:g}"} if window and window.start_s > 0 else {}
    source = ffmpeg.input(upload.url, **upload.options, **decode, **threads, **seek)
    video = source.video
    if window:  # `-ss` counts from the file's first timestamp, `trim` on the clock `-copyts` keeps: its own
        start, end = window.start_s + job.info.start_s, window.end_s
        video = video.filter("trim", start=start, **({"end": end + job.info.start_s} if end is not None else {}))
    video = tonemapped(video) if job.info.hdr else video
    if job.watermark:  # once, before the split
        video = job.watermark.burn(video, job.info.width, job.info.height)
    if window:  # no storyboard: it is made from the stitched rendition
        split, outputs = video.filter_multi_output("split", len(job.rungs)), []
    else:
        split = video.filter_multi_output("split", len(job.rungs) + 1)  # the last branch feeds the storyboard
        outputs = [_storyboard_output(job, split.stream(len(job.rungs)), gpu)]
    for index, rung in enumerate(job.rungs):
        width, branch = job.info.width_at(rung.height), split.stream(index)
        if gpu:
            scaled = branch.filter("scale_cuda", width, rung.height, format="yuv420p")
        else:
            scaled = branch.filter("scale", width, rung.height).filter("format", "yuv420p")
        with_audio = job.info.has_audio and not window
        streams = [scaled, source[str(job.info.audio_index)]] if with_audio else [scaled]
        audio = AUDIO if with_audio else {}
        outputs.append(ffmpeg.output(*streams, str(job.output(rung)), **_video_options(job, rung, gpu), **audio))
    # -xerror: a damaged source fails loudly instead of yielding a silently truncated video.
    merged = ffmpeg.merge_outputs(*outputs).global_args("-nostdin", "-nostats", "-xerror", "-progress", "pipe:1")
    if window:
        merged = merged.global_args("-copyts")
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
    if job.window:
        del common["movflags"]
        common.update(
            force_key_frames=job.keyframe_times(),
            enc_time_base="1:90000",
            output_ts_offset=CHUNK_TS_OFFSET_S,
            f="mpegts",
        )
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
    """Run the ladder encode, reporting the share done (0-100) as ffmpeg goes (a chunk's: of the chunk)."""
    await asyncio.to_thread(job.storyboard_dir.mkdir, parents=True, exist_ok=True)
    start, span = _span_of(job)
    try:
        async for line in run_with_lines(command(job)):
            key, _, value = line.partition("=")
            if key == "out_time_us" and value.lstrip("-").isdigit():
                done = int(value) / 1e6 - start
                await on_progress(max(0.0, min(100.0, done / span * 100)))
    except ToolFailed as error:
        raise _verdict(error) from None
    if not job.window:
        await tile_storyboard(job.thumbnails, job.storyboard_dir / job.storyboard.sprite_pattern)


def _span_of(job: EncodeJob) -> tuple[float, float]:
    """Where the pass's output clock starts, and how long the pass is, in seconds."""
    if job.window is None:
        return 0.0, job.info.duration_s
    end = job.window.end_s if job.window.end_s is not None else job.info.duration_s
    return job.window.start_s + job.info.start_s + CHUNK_TS_OFFSET_S, max(end - job.window.start_s, 1e-3)


def _verdict(error: ToolFailed) -> Exception:
    if any(marker in error.stderr_tail for marker in _UNDECODABLE):
        return UnsupportedMedia(f"the video cannot be decoded ({error.last_line})")
    return error  # a crash, a kill for memory, a full disk: worth retrying


async def encode_audio(source: Path, info: SourceInfo, out: Path, nice: int = 0) -> None:
    """The source's audio track, once, as every rendition carries it (a chunked ladder's renditions share it);
    at the ladder's niceness, so that it too leaves the CPU to a preview beside it."""
    assert info.audio_index is not None
    upload = MediaInput.untrusted(source)
    stream = ffmpeg.input(upload.url, **upload.options)[str(info.audio_index)]
    argv = ffmpeg.output(stream, str(out), **AUDIO, f="mp4", movflags="+faststart")
    argv = argv.global_args("-nostdin", "-v", "error", "-xerror")
    niced = ["nice", "-n", str(nice)] if nice else []
    try:
        await run([*niced, *(str(arg) for arg in argv.overwrite_output().compile())])
    except ToolFailed as error:
        raise _verdict(error) from None


async def stitch(parts: list[Path], audio: Path | None, info: SourceInfo, out: Path) -> None:
    """One rendition from a rung's chunks (MPEG-TS on the source's clock, in order) and the audio.

    The parts are laid end to end (MPEG-TS is a stream of packets: their concatenation is one stream,
    its timestamps running on), then remuxed with the audio to MP4 by stream copy, each stream starting
    where a single pass starts it: the video after the audio by as much as in the source (if the audio
    starts first), the audio where `encode_audio` left it (its offset from the video and its encoder's
    priming, measured on the file, as remuxing moves each input to start at 0).
    """
    video = out.with_suffix(".video.ts")
    await asyncio.to_thread(_concatenate, parts, video)
    argv = ["ffmpeg", "-nostdin", "-v", "error", "-y"]
    argv += [*_delayed(-info.audio_offset_s), *MediaInput.own(video, "mpegts").args]
    maps = ["-map", "0:v"]
    if audio is not None:
        audio_input = MediaInput.own(audio)
        argv += [*_delayed(await _start_s(audio_input)), *audio_input.args]
        maps += ["-map", "1:a"]
    await run([*argv, *maps, "-c", "copy", "-movflags", "+faststart", "-f", "mp4", str(out)])
    await asyncio.to_thread(video.unlink)


async def _start_s(media: MediaInput) -> float:
    streams = (await probe(media)).get("streams", [])
    return float(streams[0].get("start_time") or 0.0) if streams else 0.0


def _delayed(seconds: float) -> list[str]:
    return ["-itsoffset", f"{seconds:.6f}"] if seconds > 0 else []


def _concatenate(parts: list[Path], out: Path) -> None:
    with out.open("wb") as whole:
        for part in parts:
            with part.open("rb") as chunk:
                shutil.copyfileobj(chunk, whole, 1024 * 1024)
