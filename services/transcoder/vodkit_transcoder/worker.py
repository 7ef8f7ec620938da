"""One transcode job: the original into the ladder, then renditions, artwork and quality announced."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from vodkit_shared.bus import BusUnavailable, MessageBus
from vodkit_shared.events import (
    ArtworkReady,
    Envelope,
    Event,
    RenditionMeasured,
    RenditionReady,
    TranscodeProgress,
    VideoFailed,
    stable_event_id,
)
from vodkit_shared.scratch import scratch_dir
from vodkit_shared.storage import ObjectStorage
from vodkit_shared.tools import ToolFailed
from vodkit_transcoder.artwork import POSTER, STORYBOARD_DIR, VTT, extract_poster
from vodkit_transcoder.encode import EncodeJob, encode
from vodkit_transcoder.hwaccel import Accel
from vodkit_transcoder.jobs import TranscodeJob
from vodkit_transcoder.ladder import plan_ladder, segment_seconds
from vodkit_transcoder.quality import measure
from vodkit_transcoder.settings import TranscoderSettings
from vodkit_transcoder.source import inspect

log = logging.getLogger(__name__)
SCRATCH_PREFIX = "vodkit-transcode-"
PROGRESS_EVERY_S = 1.0
BUS_WAIT_S = 300.0  # how long an encoded ladder waits for the bus to announce it before the job is put off
ANNOUNCE_RETRY_S = 2.0  # between tries while it waits (the bus adapter reconnects every 5 s)


def rendition_key(video_id: str, rung: str) -> str:
    return f"renditions/{video_id}/{rung}.mp4"


@dataclass(frozen=True)
class Announcer:
    """Publishes the events of one video's job, all under the job's correlation id.

    What the job made (renditions, artwork, quality) is announced by waiting for the bus: the encode
    is done and stored, so a broker outage is sat out here, holding the job's lease, for up to
    `bus_wait_s` rather than putting the whole job off and encoding the ladder again. `once` is for
    what may be lost or is kept elsewhere (progress; a failure, kept in the queue's outbox).
    """

    bus: MessageBus
    video_id: str
    correlation_id: str
    bus_wait_s: float = BUS_WAIT_S
    retry_s: float = ANNOUNCE_RETRY_S

    async def __call__(self, payload: Event, *stable_id: str) -> None:
        """With `stable_id` parts the id is fixed by them: a re-run announces the same event again, not a new one."""
        deadline = time.monotonic() + self.bus_wait_s
        while True:
            try:
                return await self.once(payload, *stable_id)
            except BusUnavailable:
                if time.monotonic() + self.retry_s > deadline:
                    raise  # the runner puts the job off
                log.info("bus down: waiting to announce", extra={"videoId": self.video_id, "event": payload.TYPE})
                await asyncio.sleep(self.retry_s)

    async def once(self, payload: Event, *stable_id: str) -> None:
        """Publish once; BusUnavailable if the bus does not take it."""
        event_id = stable_event_id(payload.TYPE, self.video_id, *stable_id) if stable_id else None
        envelope = Envelope.wrap(payload, video_id=self.video_id, correlation_id=self.correlation_id, event_id=event_id)
        await self.bus.publish(envelope)


class Transcoder:
    """Turns a job's original into the ladder and announces each rendition."""

    def __init__(
        self, storage: ObjectStorage, bus: MessageBus, settings: TranscoderSettings, accel: Accel, threads: int = 0
    ) -> None:
        self._storage = storage
        self._bus = bus
        self._settings = settings
        self._accel = accel
        self._threads = threads  # each encode's ffmpeg threads (0: ffmpeg's choice)

    async def transcode(self, job: TranscodeJob) -> None:
        announce = Announcer(self._bus, job.video_id, job.correlation_id)
        async with scratch_dir(SCRATCH_PREFIX, self._settings.work_dir) as work:  # a killed worker's is swept
            encoded = await self._encode(announce, job.source_key, work)
            sizes = await self._store_renditions(announce, encoded)
            await self._store_artwork(announce, encoded)
            if self._settings.measure_quality:
                for rung in encoded.rungs:
                    await self._measure(announce, encoded, rung.name, *sizes[rung.name])

    async def _encode(self, announce: Announcer, source_key: str, work: Path) -> EncodeJob:
        source = work / "source"
        await self._storage.get_file(source_key, source)
        info = await inspect(source, self._settings.source_limits)
        rungs, segment_s = plan_ladder(info.height), segment_seconds(info.duration_s)
        preset, encoder = self._settings.x264_preset, self._accel.encoder
        job = EncodeJob(source, info, rungs, segment_s, preset, work, encoder, self._threads)
        report = ProgressReporter(announce, [rung.name for rung in rungs])
        started = time.monotonic()
        await report(0.0)
        await encode(job, report)
        log.info(
            "ladder encoded",
            extra={
                "videoId": announce.video_id,
                "encoder": "nvenc" if job.on_gpu else "libx264",
                "seconds": round(time.monotonic() - started, 2),
            },
        )
        return job

    async def _store_renditions(self, announce: Announcer, job: EncodeJob) -> dict[str, tuple[int, int]]:
        """Store every rendition, then announce each; returns their frame sizes."""
        ladder = [rung.name for rung in job.rungs]
        for rung in job.rungs:
            await self._storage.put_file(rendition_key(announce.video_id, rung.name), job.output(rung), "video/mp4")
        sizes = {rung.name: (job.info.width_at(rung.height), rung.height) for rung in job.rungs}  # as encoded
        for rung in job.rungs:
            width, height = sizes[rung.name]
            ready = RenditionReady(
                rung=rung.name,
                key=rendition_key(announce.video_id, rung.name),
                width=width,
                height=height,
                ladder=ladder,
                segment_seconds=job.segment_s,
                duration_seconds=job.info.duration_s,
            )
            await announce(ready, rung.name)
        return sizes

    async def _store_artwork(self, announce: Announcer, job: EncodeJob) -> None:
        prefix = f"artwork/{announce.video_id}/"
        poster = job.out_dir / POSTER
        await extract_poster(job.output(job.rungs[0]), job.info.duration_s, poster)
        await self._storage.put_file(prefix + POSTER, poster, "image/jpeg")
        sprites = await asyncio.to_thread(lambda: sorted(job.storyboard_dir.glob("sprite_*.jpg")))
        for sprite in sprites:
            await self._storage.put_file(f"{prefix}{STORYBOARD_DIR}/{sprite.name}", sprite, "image/jpeg")
        vtt_key = f"{prefix}{STORYBOARD_DIR}/{VTT}"
        await self._storage.put_bytes(vtt_key, job.storyboard.vtt().encode(), "text/vtt")
        await announce(ArtworkReady(poster_key=prefix + POSTER, storyboard_key=vtt_key), "artwork")

    async def _measure(self, announce: Announcer, job: EncodeJob, rung: str, width: int, height: int) -> None:
        """Quality is information, not a product: failing to measure it fails nothing."""
        try:
            quality = await measure(job.source, job.info, job.out_dir / f"{rung}.mp4", width, height)
        except (ToolFailed, ValueError) as error:
            log.warning("quality not measured", extra={"videoId": announce.video_id, "rung": rung, "error": str(error)})
            return
        await announce(RenditionMeasured(rung=rung, ssim=quality.ssim, psnr=quality.psnr), rung)

    async def discard(self, video_id: str) -> None:
        """The video ended: remove what this service wrote for it (renditions and artwork)."""
        for prefix in (f"renditions/{video_id}/", f"artwork/{video_id}/"):
            await self._storage.delete_prefix(prefix)

    async def give_up(self, job: TranscodeJob, reason: str) -> None:
        announce = Announcer(self._bus, job.video_id, job.correlation_id)
        await announce.once(VideoFailed(stage="transcoder", reason=reason), "transcoder")


class ProgressReporter:
    """Publishes `transcode.progress` at the start and then at most once a second."""

    def __init__(self, announce: Announcer, ladder: list[str]) -> None:
        self._announce, self._ladder = announce, ladder
        self._last = float("-inf")

    async def __call__(self, percent: float) -> None:
        now = time.monotonic()
        if now - self._last < PROGRESS_EVERY_S:
            return
        self._last = now
        try:  # best-effort: the bus being down slows no encode and fails no job
            await self._announce.once(TranscodeProgress(percent=round(percent, 1), ladder=self._ladder))
        except BusUnavailable:
            log.info("progress not announced: the bus is down", extra={"videoId": self._announce.video_id})
