"""Early publish: a fast preview rendition that plays seconds after assembly, while the ladder encodes.

One ffmpeg of its own (decode, scale to at most `PREVIEW_HEIGHT`, x264 `veryfast`, AAC) writes HLS as
a growing EVENT playlist of short segments. `PlaylistMirror` copies each segment to storage once
ffmpeg lists it (it lists only finished segments), then the playlist that lists it, so a player never
sees a segment that is not stored. Once the first segment is stored, the master at
`hls/{videoId}/master.m3u8` lists the preview alone and `video.playable` is published.

The preview always finishes before the job announces its renditions (`worker.Transcoder`), so the
packager's full master, written after them, always replaces the early one, never the reverse; the
purge that follows `package.done` drops the early master from caches. A viewer who started early
keeps the master they loaded and plays the preview to its end (its playlist gains `EXT-X-ENDLIST`,
also when the preview's ffmpeg fails half-way).
The preview's objects live under the video's HLS prefix and go with it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import Histogram

from vodkit_shared.media_input import MediaInput
from vodkit_shared.rungs import PREVIEW
from vodkit_shared.storage import ObjectNotFound, ObjectStorage, StorageUnavailable
from vodkit_shared.tools import ToolFailed, run_capturing
from vodkit_transcoder.outages import outlasting
from vodkit_transcoder.source import SourceInfo
from vodkit_transcoder.watermark import Overlay

log = logging.getLogger(__name__)
PREVIEW_HEIGHT = 480
PREVIEW_SEGMENT_S = 2  # short, so the first one (and the first frame) comes soon
PREVIEW_MAXRATE_KBPS = 2500  # the 480p rung's VBV cap
AUDIO_KBPS = 128
# High profile, level 3.1: 854x480 up to 60 fps fits it.
VIDEO_CODEC = "avc1.64001f"
PLAYLIST = "playlist.m3u8"
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_TYPE = "video/mp2t"
POLL_S = 0.2
# HDR (PQ or HLG) to SDR BT.709, as the ladder does it (`encode.tonemapped`)
TONEMAP = "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv"
# Players start a playlist without EXT-X-ENDLIST at its live edge unless told otherwise: start at the start.
START_AT_ZERO = "#EXT-X-START:TIME-OFFSET=0,PRECISE=YES"
ENDLIST = "#EXT-X-ENDLIST"
FIRST_SEGMENT_SECONDS = Histogram(
    "vodkit_transcode_preview_playable_duration_seconds",
    "From the preview's start to its first segment and the early master stored (the video is playable)",
    buckets=(0.25, 0.5, 1, 2, 3, 5, 10, 20, 60),
)

OnPlayable = Callable[[str], Awaitable[None]]  # given the master's storage key


def preview_prefix(video_id: str) -> str:
    return f"hls/{video_id}/{PREVIEW}/"


def master_key(video_id: str) -> str:
    return f"hls/{video_id}/master.m3u8"


def preview_height(info: SourceInfo) -> int:
    """At most `PREVIEW_HEIGHT`, never above the source, even (x264 needs it)."""
    height = min(PREVIEW_HEIGHT, info.height)
    return height - height % 2


def command(
    source: Path, info: SourceInfo, out_dir: Path, threads: int = 0, watermark: Overlay | None = None
) -> list[str]:
    upload = MediaInput.untrusted(source)  # its content cannot make ffmpeg open another file
    height = preview_height(info)
    width = info.width_at(height)
    audio = ["-map", f"0:{info.audio_index}", "-c:a", "aac", "-b:a", f"{AUDIO_KBPS}k", "-ac", "2"]
    tonemap = f"{TONEMAP}," if info.hdr else ""
    # area: a clean downscale at a third of bicubic's cost, which on a 1080p source was half the pass
    scaled = f"{tonemap}scale={width}:{height}:flags=area,format=yuv420p"
    if watermark is None:
        video = ["-map", "0:v:0", "-vf", scaled]
    else:  # burned in after the downscale (every length is a share of the height): cheaper, and the same look
        marked = watermark.graph("small", width, height, 1, "v")
        video = ["-filter_complex", f"[0:v:0]{scaled}[small];{marked}", "-map", "[v]"]
    return [
        "ffmpeg",
        "-nostdin",
        "-v",
        "error",
        "-xerror",
        *(["-threads", str(threads)] if threads else []),
        *upload.args,
        *(watermark.input.args if watermark else []),
        *video,
        *(audio if info.has_audio else []),
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "23",
        "-profile:v",
        "high",
        "-level:v",
        "3.1",
        "-maxrate",
        f"{PREVIEW_MAXRATE_KBPS}k",
        "-bufsize",
        f"{2 * PREVIEW_MAXRATE_KBPS}k",
        "-fpsmax",
        "60",
        "-force_key_frames",
        f"expr:gte(t,n_forced*{PREVIEW_SEGMENT_S})",
        "-f",
        "hls",
        "-hls_time",
        str(PREVIEW_SEGMENT_S),
        "-hls_playlist_type",
        "event",  # ffmpeg then writes the playlist to a temporary file and renames it: never read half
        "-hls_flags",
        "independent_segments+temp_file",
        "-hls_segment_type",
        "mpegts",
        "-hls_segment_filename",
        str(out_dir / "seg_%05d.ts"),
        str(out_dir / PLAYLIST),
    ]


def master_playlist(info: SourceInfo) -> str:
    """The early master: the preview alone, its bandwidth the VBV cap (no segment is measured yet)."""
    height = preview_height(info)
    codecs = f"{VIDEO_CODEC},mp4a.40.2" if info.has_audio else VIDEO_CODEC
    bandwidth = (PREVIEW_MAXRATE_KBPS + (AUDIO_KBPS if info.has_audio else 0)) * 1000
    return (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n"
        f"{START_AT_ZERO}\n"
        f'#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},RESOLUTION={info.width_at(height)}x{height},CODECS="{codecs}"\n'
        f"{PREVIEW}/{PLAYLIST}\n"
    )


def listed_segments(playlist: str) -> list[str]:
    return [line for line in playlist.splitlines() if line and not line.startswith("#")]


def with_start_at_zero(playlist: str) -> str:
    head, _, rest = playlist.partition("\n")
    return f"{head}\n{START_AT_ZERO}\n{rest}" if head == "#EXTM3U" else playlist


@dataclass
class PlaylistMirror:
    """Keeps storage in step with the playlist ffmpeg is writing: new segments first, then the playlist.

    A job run again starts its preview from the first segment, while early viewers may be playing
    the previous run's: its playlist is stored again only once it lists at least as many segments
    (`floor`), so that no viewer sees it shrink. The segments are the same ones, encoded again.
    """

    storage: ObjectStorage
    video_id: str
    out_dir: Path
    floor: int | None = None  # how many segments the stored playlist lists already; read at the first sync
    stored: set[str] = field(default_factory=set)
    last_playlist: str = ""

    async def sync(self) -> int:
        """Store what is new; returns how many segments storage has."""
        try:
            text = await asyncio.to_thread((self.out_dir / PLAYLIST).read_text)
        except FileNotFoundError:
            return 0  # no segment finished yet
        if text == self.last_playlist:
            return len(self.stored)
        if self.floor is None:
            try:
                self.floor = len(listed_segments((await self.storage.get_bytes(self._key)).decode()))
            except ObjectNotFound:
                self.floor = 0
        prefix = preview_prefix(self.video_id)
        listed = listed_segments(text)
        for name in listed:
            if name not in self.stored:
                await self.storage.put_file(prefix + name, self.out_dir / name, SEGMENT_TYPE)
                self.stored.add(name)
                # ffmpeg never reads a finished segment again: an hour's preview would hold 1 GB here
                await asyncio.to_thread((self.out_dir / name).unlink, missing_ok=True)
        if len(listed) >= self.floor:
            await self._put_playlist(text)
        self.last_playlist = text
        return len(self.stored)

    async def end(self) -> None:
        """After a failed encode: store what ffmpeg finished, and end the playlist, so that an early
        viewer plays to its last segment instead of waiting at its live edge for ever. Best effort."""
        try:
            await self.sync()
            listed = len(listed_segments(self.last_playlist))
            if self.stored and listed >= (self.floor or 0) and ENDLIST not in self.last_playlist:
                await self._put_playlist(f"{self.last_playlist.rstrip()}\n{ENDLIST}\n")
        except StorageUnavailable:
            log.warning("the failed preview's playlist was not ended", extra={"videoId": self.video_id})

    @property
    def _key(self) -> str:
        return preview_prefix(self.video_id) + PLAYLIST

    async def _put_playlist(self, text: str) -> None:
        await self.storage.put_bytes(self._key, with_start_at_zero(text).encode(), PLAYLIST_TYPE)


@dataclass(frozen=True)
class Preview:
    storage: ObjectStorage
    video_id: str
    source: Path
    info: SourceInfo
    out_dir: Path
    threads: int = 0
    watermark: Overlay | None = None  # as the ladder burns it in: no frame of the video goes out without it

    async def run(self, on_playable: OnPlayable) -> None:
        """Encode and mirror the preview; `on_playable` once its first segment and the early master are stored."""
        await asyncio.to_thread(self.out_dir.mkdir, parents=True, exist_ok=True)
        mirror = PlaylistMirror(self.storage, self.video_id, self.out_dir)
        started = time.monotonic()
        encoding = asyncio.create_task(
            run_capturing(command(self.source, self.info, self.out_dir, self.threads, self.watermark))
        )
        playable = False
        try:
            while not encoding.done():
                await asyncio.wait({encoding}, timeout=POLL_S)
                try:
                    if await mirror.sync() and not playable:
                        playable = await self._publish(on_playable, started)
                except StorageUnavailable:  # the segments wait in scratch space: the next sync stores them
                    log.info("preview not mirrored: the store is down", extra={"videoId": self.video_id})
            try:
                await encoding  # a failed encode raises ToolFailed here
            except ToolFailed:
                await mirror.end()
                raise
            await outlasting(mirror.sync, self.video_id, "store the preview")  # the last segments, EXT-X-ENDLIST
            if not playable and mirror.stored:
                await self._publish(on_playable, started)
        finally:
            encoding.cancel()  # a cancelled preview kills its ffmpeg (run_capturing) and reaps it before it returns
            await asyncio.gather(encoding, return_exceptions=True)

    async def _publish(self, on_playable: OnPlayable, started: float) -> bool:
        key = master_key(self.video_id)
        await self.storage.put_bytes(key, master_playlist(self.info).encode(), PLAYLIST_TYPE)
        FIRST_SEGMENT_SECONDS.observe(time.monotonic() - started)
        log.info("preview playable", extra={"videoId": self.video_id, "seconds": round(time.monotonic() - started, 2)})
        await on_playable(key)
        return True
