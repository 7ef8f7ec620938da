"""Handling `video.assembled`: transcode the original into the ladder and announce each rendition."""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import time
from pathlib import Path

from vodkit_shared.bus import MessageBus
from vodkit_shared.events import (
    ArtworkReady,
    Envelope,
    RenditionMeasured,
    RenditionReady,
    TranscodeProgress,
    VideoAssembled,
    VideoFailed,
    stable_event_id,
)
from vodkit_shared.storage import ObjectStorage
from vodkit_shared.tools import ToolFailed, probe
from vodkit_transcoder.artwork import POSTER, STORYBOARD_DIR, VTT, extract_poster
from vodkit_transcoder.encode import EncodeJob, encode
from vodkit_transcoder.hwaccel import Accel
from vodkit_transcoder.jobs import TranscodeJob
from vodkit_transcoder.ladder import plan_ladder, segment_seconds
from vodkit_transcoder.quality import measure
from vodkit_transcoder.settings import TranscoderSettings
from vodkit_transcoder.source import inspect

log = logging.getLogger(__name__)
PROGRESS_EVERY_S = 1.0


def rendition_key(video_id: str, rung: str) -> str:
    return f"renditions/{video_id}/{rung}.mp4"


class Transcoder:
    """Turns a job's original into the ladder and announces each rendition."""

    def __init__(self, storage: ObjectStorage, bus: MessageBus, settings: TranscoderSettings, accel: Accel) -> None:
        self._storage = storage
        self._bus = bus
        self._settings = settings
        self._accel = accel

    async def transcode(self, job: TranscodeJob) -> None:
        cause = Envelope.wrap(
            VideoAssembled(source_key=job.source_key, size=0), video_id=job.video_id, correlation_id=job.correlation_id
        )
        work = Path(tempfile.mkdtemp(prefix="vodkit-transcode-", dir=self._settings.work_dir))
        try:
            await self._transcode(cause, job.source_key, work)
        finally:
            await asyncio.to_thread(shutil.rmtree, work, True)

    async def _transcode(self, cause: Envelope, source_key: str, work: Path) -> None:
        source = work / "source"
        await self._storage.get_file(source_key, source)
        info = await inspect(source)
        rungs, segment_s = plan_ladder(info.height), segment_seconds(info.duration_s)
        job = EncodeJob(source, info, rungs, segment_s, self._settings.x264_preset, work, self._accel.encoder)
        ladder = [rung.name for rung in job.rungs]
        started = time.monotonic()
        report = ProgressReporter(self._bus, cause, ladder)
        await report(0.0)
        await encode(job, report)
        log.info(
            "ladder encoded",
            extra={"videoId": cause.video_id, "ladder": ladder, "seconds": round(time.monotonic() - started, 2)},
        )
        for rung in job.rungs:
            await self._storage.put_file(rendition_key(cause.video_id, rung.name), job.output(rung), "video/mp4")
        sizes = {rung.name: await _frame_size(job.output(rung)) for rung in job.rungs}
        for rung in job.rungs:
            width, height = sizes[rung.name]
            ready = RenditionReady(
                rung=rung.name,
                key=rendition_key(cause.video_id, rung.name),
                width=width,
                height=height,
                ladder=ladder,
                segment_seconds=job.segment_s,
                duration_seconds=info.duration_s,
            )
            event_id = stable_event_id(RenditionReady.TYPE, cause.video_id, rung.name)
            await self._bus.publish(cause.follow(ready, event_id))
        await self._publish_artwork(cause, job)
        if self._settings.measure_quality:
            for rung in job.rungs:
                await self._measure(cause, job, rung.name, *sizes[rung.name])

    async def _publish_artwork(self, cause: Envelope, job: EncodeJob) -> None:
        prefix = f"artwork/{cause.video_id}/"
        poster = job.out_dir / POSTER
        await extract_poster(job.output(job.rungs[0]), job.info.duration_s, poster)
        await self._storage.put_file(prefix + POSTER, poster, "image/jpeg")
        sprites = await asyncio.to_thread(lambda: sorted(job.storyboard_dir.glob("sprite_*.jpg")))
        for sprite in sprites:
            await self._storage.put_file(f"{prefix}{STORYBOARD_DIR}/{sprite.name}", sprite, "image/jpeg")
        vtt_key = f"{prefix}{STORYBOARD_DIR}/{VTT}"
        await self._storage.put_bytes(vtt_key, job.storyboard.vtt().encode(), "text/vtt")
        artwork = ArtworkReady(poster_key=prefix + POSTER, storyboard_key=vtt_key)
        await self._bus.publish(cause.follow(artwork, stable_event_id(ArtworkReady.TYPE, cause.video_id)))

    async def _measure(self, cause: Envelope, job: EncodeJob, rung: str, width: int, height: int) -> None:
        """Quality is information, not a product: failing to measure it fails nothing."""
        try:
            quality = await measure(job.source, job.info, job.out_dir / f"{rung}.mp4", width, height)
        except (ToolFailed, ValueError) as error:
            log.warning("quality not measured", extra={"videoId": cause.video_id, "rung": rung, "error": str(error)})
            return
        measured = RenditionMeasured(rung=rung, ssim=quality.ssim, psnr=quality.psnr)
        await self._bus.publish(cause.follow(measured, stable_event_id(RenditionMeasured.TYPE, cause.video_id, rung)))

    async def give_up(self, job: TranscodeJob, reason: str) -> None:
        failed = VideoFailed(stage="transcoder", reason=reason)
        event_id = stable_event_id(VideoFailed.TYPE, job.video_id, "transcoder")
        await self._bus.publish(
            Envelope.wrap(failed, video_id=job.video_id, correlation_id=job.correlation_id, event_id=event_id)
        )


class ProgressReporter:
    """Publishes `transcode.progress` at the start and then at most once a second."""

    def __init__(self, bus: MessageBus, cause: Envelope, ladder: list[str]) -> None:
        self._bus, self._cause, self._ladder = bus, cause, ladder
        self._last = float("-inf")

    async def __call__(self, percent: float) -> None:
        now = time.monotonic()
        if now - self._last < PROGRESS_EVERY_S:
            return
        self._last = now
        await self._bus.publish(self._cause.follow(TranscodeProgress(percent=round(percent, 1), ladder=self._ladder)))


async def _frame_size(path: Path) -> tuple[int, int]:
    info = await probe(path)
    video = next(s for s in info["streams"] if s.get("codec_type") == "video")
    return int(video["width"]), int(video["height"])
