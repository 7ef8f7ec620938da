"""One transcode job: the original into the ladder, then renditions, artwork and quality announced."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import Counter, Histogram

from vodkit_shared.bus import BusUnavailable, MessageBus
from vodkit_shared.content_keys import ContentKeys
from vodkit_shared.events import (
    ArtworkReady,
    Envelope,
    Event,
    RenditionMeasured,
    RenditionReady,
    TranscodeProgress,
    VideoFailed,
    VideoPlayable,
    run_of,
    stable_event_id,
)
from vodkit_shared.rungs import AUDIO_ONLY, PREVIEW
from vodkit_shared.scratch import scratch_dir
from vodkit_shared.storage import ObjectStorage
from vodkit_shared.tools import ToolFailed
from vodkit_shared.watermarks import Watermarks
from vodkit_transcoder.artwork import (
    POSTER,
    STORYBOARD_DIR,
    VTT,
    Storyboard,
    extract_poster,
    tile_storyboard,
    waveform_artwork,
)
from vodkit_transcoder.chunks import ChunkedLadder, ChunkSettings
from vodkit_transcoder.encode import EncodeJob, encode, encode_audio
from vodkit_transcoder.hwaccel import Accel
from vodkit_transcoder.jobs import Chunk, JobQueue, TranscodeJob
from vodkit_transcoder.ladder import plan_ladder, segment_seconds
from vodkit_transcoder.outages import outlasting
from vodkit_transcoder.preview import Preview, preview_prefix
from vodkit_transcoder.quality import measure
from vodkit_transcoder.settings import TranscoderSettings
from vodkit_transcoder.source import SourceInfo, inspect
from vodkit_transcoder.watermark import Overlay, fetch_overlay

log = logging.getLogger(__name__)
SCRATCH_PREFIX = "vodkit-transcode-"
PROGRESS_EVERY_S = 1.0
# One ffmpeg pass encodes every rung at once: each rung of a pass records the pass's speed.
ENCODE_SPEED = Histogram(
    "vodkit_transcode_encode_speed_ratio",
    "Media seconds encoded per wall second, one sample per rung of each ladder pass",
    ["encoder", "rung"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64),
)
MEDIA_ENCODED = Counter("vodkit_transcode_encoded_media_seconds_total", "Seconds of media encoded", ["encoder"])


def _count_encode(job: EncodeJob, seconds: float) -> None:
    encoder = "nvenc" if job.on_gpu else "libx264"
    MEDIA_ENCODED.labels(encoder).inc(job.info.duration_s)
    for rung in job.rungs:
        ENCODE_SPEED.labels(encoder, rung.name).observe(job.info.duration_s / max(seconds, 1e-3))


async def _nothing() -> None:
    return None


def rendition_key(video_id: str, rung: str) -> str:
    return f"renditions/{video_id}/{rung}.mp4"


@dataclass(frozen=True)
class Announcer:
    """Publishes the events of one video's job, all under the job's correlation id.

    What the job made (renditions, artwork, quality) is announced waiting out a broker outage
    (`outlasting`), holding the job's lease, rather than putting the whole job off and encoding the
    ladder again. `once` is for what may be lost or is kept elsewhere (progress; a failure, kept in
    the queue's outbox).
    """

    bus: MessageBus
    video_id: str
    correlation_id: str

    def envelope(self, payload: Event, *stable_id: str) -> Envelope:
        """With `stable_id` parts the id is fixed by them and the run: a re-run of a job announces the same
        event again, not a new one; an admin's retry (a run of its own) announces new ones."""
        run = (self.correlation_id,) if run_of(self.correlation_id) else ()  # run 0 keeps the ids it always had
        event_id = stable_event_id(payload.TYPE, self.video_id, *run, *stable_id) if stable_id else None
        return Envelope.wrap(payload, video_id=self.video_id, correlation_id=self.correlation_id, event_id=event_id)

    async def __call__(self, payload: Event, *stable_id: str) -> None:
        await self.publish(self.envelope(payload, *stable_id))

    async def publish(self, envelope: Envelope) -> None:
        await outlasting(lambda: self.bus.publish(envelope), self.video_id, f"announce {envelope.type}")

    async def once(self, payload: Event, *stable_id: str) -> None:
        """Publish once; BusUnavailable if the bus does not take it."""
        await self.bus.publish(self.envelope(payload, *stable_id))


class Transcoder:
    """Turns a job's original into the ladder and announces each rendition.

    Encode, store every product (renditions, poster, storyboard), record in the job that they are
    stored with the envelopes that announce them (`jobs`: `JobQueue.keep_stored`), announce them,
    then measure quality. A worker that takes over a job lost after its checkpoint only announces
    what the job holds: no second encode (quality is not measured then).
    """

    def __init__(
        self,
        storage: ObjectStorage,
        bus: MessageBus,
        settings: TranscoderSettings,
        accel: Accel,
        threads: int = 0,
        jobs: JobQueue | None = None,
        content_keys: ContentKeys | None = None,
        watermarks: Watermarks | None = None,
    ) -> None:
        self._storage = storage
        self._content_keys = content_keys  # an encrypted video gets no preview: its segments would be clear
        self._bus = bus
        self._settings = settings
        self._accel = accel
        self._threads = threads  # each encode's ffmpeg threads (0: ffmpeg's choice)
        self._jobs = jobs  # where the checkpoint is kept (None: nowhere, for tests of one transcode)
        self._watermarks = watermarks  # where the video's watermark is read (None: no watermarks)
        chunking = ChunkSettings(
            settings.chunk_seconds, settings.chunk_min_seconds, settings.job_poll_s, settings.source_limits
        )
        self.chunks = ChunkedLadder(storage, jobs, chunking, self._encode_job, settings.work_dir, watermarks)

    async def transcode(self, job: TranscodeJob) -> None:
        if job.chunk is not None:  # a part of a long video's ladder (chunks.py)
            await self.chunks.encode_chunk(job)
            return
        announce = Announcer(self._bus, job.video_id, job.correlation_id)
        if job.stored:
            log.info("ladder stored by a lost worker: announcing it", extra={"videoId": job.video_id})
            for doc in job.stored:
                await announce.publish(Envelope.model_validate(doc))
            await outlasting(lambda: self.chunks.discard_parts(job.video_id), job.video_id, "delete")  # if any
            return
        async with scratch_dir(SCRATCH_PREFIX, self._settings.work_dir) as work:  # a killed worker's is swept
            source = work / "source"
            await self._storage.get_file(job.source_key, source)
            info = await inspect(source, self._settings.source_limits)
            if info.audio_only:
                await self._finish(job, announce, *await self._audio_only(announce, source, info, work))
                return
            chunked = await self.chunks.applies(job, info)
            mark = await fetch_overlay(self._watermarks, job.video_id, work)  # burned into the preview and every rung
            async with self._previewing(announce, source, info, work, mark) as preview_done:
                encoded = await self._encode(job, announce, source, info, work, chunked, mark)
                await preview_done()  # before any rendition is announced: see preview.py
            readies = await self._store_renditions(announce.video_id, encoded)
            artwork = await self._store_artwork(announce.video_id, encoded)
            if not await self._finish(job, announce, readies, artwork):
                return
            if chunked:  # stitched and stored: the chunks' renditions are of no more use
                await outlasting(lambda: self.chunks.discard_parts(job.video_id), job.video_id, "delete")
            if self._settings.measure_quality:
                for ready in readies:
                    await self._measure(announce, encoded, ready.rung, ready.width, ready.height)

    async def _finish(
        self, job: TranscodeJob, announce: Announcer, readies: list[RenditionReady], artwork: ArtworkReady
    ) -> bool:
        """Checkpoint what is stored, then announce it; False if the job is no longer ours."""
        products = [
            *(announce.envelope(ready, ready.rung) for ready in readies),
            announce.envelope(artwork, "artwork"),
        ]
        if not await self._checkpoint(job, products):
            return False  # no longer ours: its heartbeat stops it
        for envelope in products:
            await announce.publish(envelope)
        return True

    async def _audio_only(
        self, announce: Announcer, source: Path, info: SourceInfo, work: Path
    ) -> tuple[list[RenditionReady], ArtworkReady]:
        """A source with no picture: one AAC rendition (`audio`), its waveform as poster and storyboard."""
        video_id, audio = announce.video_id, work / f"{AUDIO_ONLY}.mp4"
        report = ProgressReporter(announce, [AUDIO_ONLY])
        await report(0.0)
        await encode_audio(source, info, audio)
        key = rendition_key(video_id, AUDIO_ONLY)
        await self._put_file(video_id, key, audio)
        board = Storyboard.plan(info)
        thumbnails, sprites = work / "thumbnails.mkv", work / STORYBOARD_DIR
        await asyncio.to_thread(sprites.mkdir)
        await waveform_artwork(audio, board, work / POSTER, thumbnails)
        await tile_storyboard(thumbnails, sprites / board.sprite_pattern)
        artwork = await self._store_artwork_files(video_id, work / POSTER, sprites, board)
        segment_s = segment_seconds(info.duration_s)
        ready = RenditionReady(
            rung=AUDIO_ONLY, key=key, width=0, height=0, ladder=[AUDIO_ONLY], segment_seconds=segment_s,
            duration_seconds=info.duration_s,
        )  # fmt: skip
        return [ready], artwork

    @contextlib.asynccontextmanager
    async def _previewing(
        self, announce: Announcer, source: Path, info: SourceInfo, work: Path, mark: Overlay | None
    ) -> AsyncIterator[Callable[[], Awaitable[None]]]:
        """Runs the early preview beside the block (when the source is long enough); yields "wait for it".

        The preview is a convenience: its failure is logged and fails nothing, the ladder publishes anyway.
        """
        if not self._settings.preview or info.duration_s < self._settings.preview_min_seconds:
            yield _nothing
            return
        if self._content_keys and await self._content_keys.policy(announce.video_id):
            log.info("no preview: the video is encrypted", extra={"videoId": announce.video_id})
            yield _nothing
            return
        preview = Preview(self._storage, announce.video_id, source, info, work / PREVIEW, self._threads, mark)

        async def playable(master: str) -> None:
            # waiting out a broker outage (the preview's ffmpeg goes on meanwhile), as for any product
            await announce(VideoPlayable(stage="preview", master_key=master, renditions=[PREVIEW]), "preview")

        task = asyncio.create_task(preview.run(playable), name=f"preview {announce.video_id}")

        async def done() -> None:
            try:
                await asyncio.shield(task)
            except Exception as error:  # noqa: BLE001 - whatever stopped the preview, the ladder goes on
                log.warning("preview failed", extra={"videoId": announce.video_id, "error": str(error)})

        try:
            yield done
        finally:
            if not task.done():
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _checkpoint(self, job: TranscodeJob, products: list[Envelope]) -> bool:
        if self._jobs is None:
            return True
        kept = [envelope.model_dump(mode="json") for envelope in products]
        return await self._jobs.keep_stored(job.video_id, job.worker, kept)

    def _encode_job(
        self, source: Path, info: SourceInfo, out_dir: Path, nice: int, window: Chunk | None, mark: Overlay | None
    ) -> EncodeJob:
        """This service's ladder for the source (or a window of it): rungs, segments, encoder, threads, watermark."""
        rungs, segment_s = plan_ladder(info.height), segment_seconds(info.duration_s)
        preset, encoder = self._settings.x264_preset, self._accel.encoder
        return EncodeJob(source, info, rungs, segment_s, preset, out_dir, encoder, self._threads, nice, window, mark)

    async def _encode(
        self,
        parent: TranscodeJob,
        announce: Announcer,
        source: Path,
        info: SourceInfo,
        work: Path,
        chunked: bool,
        mark: Overlay | None,
    ) -> EncodeJob:
        report = ProgressReporter(announce, [rung.name for rung in plan_ladder(info.height)])
        started = time.monotonic()
        await report(0.0)
        if chunked:
            job = await self.chunks.encode(parent, source, info, work, self._ladder_nice(info), report, mark)
        else:
            job = self._encode_job(source, info, work, self._ladder_nice(info), None, mark)
            await encode(job, report)
        log.info(
            "ladder encoded",
            extra={
                "videoId": announce.video_id,
                "encoder": "nvenc" if job.on_gpu else "libx264",
                "chunked": chunked,
                "seconds": round(time.monotonic() - started, 2),
            },
        )
        _count_encode(job, time.monotonic() - started)
        return job

    async def _store_renditions(self, video_id: str, job: EncodeJob) -> list[RenditionReady]:
        """Store every rendition; returns what announces each."""
        for rung in job.rungs:
            await self._put_file(video_id, rendition_key(video_id, rung.name), job.output(rung))
        ladder = [rung.name for rung in job.rungs]
        return [
            RenditionReady(
                rung=rung.name,
                key=rendition_key(video_id, rung.name),
                width=job.info.width_at(rung.height),  # as encoded
                height=rung.height,
                ladder=ladder,
                segment_seconds=job.segment_s,
                duration_seconds=job.info.duration_s,
            )
            for rung in job.rungs
        ]

    async def _store_artwork(self, video_id: str, job: EncodeJob) -> ArtworkReady:
        """Store the poster and the storyboard; returns what announces them."""
        poster = job.out_dir / POSTER
        await extract_poster(job.output(job.rungs[0]), job.info.duration_s, poster)
        return await self._store_artwork_files(video_id, poster, job.storyboard_dir, job.storyboard)

    async def _store_artwork_files(
        self, video_id: str, poster: Path, sprite_dir: Path, board: Storyboard
    ) -> ArtworkReady:
        prefix = f"artwork/{video_id}/"
        await self._put_file(video_id, prefix + POSTER, poster, "image/jpeg")
        sprites = await asyncio.to_thread(lambda: sorted(sprite_dir.glob("sprite_*.jpg")))
        for sprite in sprites:
            await self._put_file(video_id, f"{prefix}{STORYBOARD_DIR}/{sprite.name}", sprite, "image/jpeg")
        vtt_key, vtt = f"{prefix}{STORYBOARD_DIR}/{VTT}", board.vtt().encode()
        await outlasting(lambda: self._storage.put_bytes(vtt_key, vtt, "text/vtt"), video_id, "store")
        return ArtworkReady(poster_key=prefix + POSTER, storyboard_key=vtt_key)

    async def _put_file(self, video_id: str, key: str, path: Path, content_type: str = "video/mp4") -> None:
        await outlasting(lambda: self._storage.put_file(key, path, content_type), video_id, "store")

    async def _measure(self, announce: Announcer, job: EncodeJob, rung: str, width: int, height: int) -> None:
        """Quality is information, not a product: failing to measure it fails nothing."""
        try:
            quality = await measure(job.source, job.info, job.out_dir / f"{rung}.mp4", width, height)
        except (ToolFailed, ValueError) as error:
            log.warning("quality not measured", extra={"videoId": announce.video_id, "rung": rung, "error": str(error)})
            return
        await announce(RenditionMeasured(rung=rung, ssim=quality.ssim, psnr=quality.psnr), rung)

    def _ladder_nice(self, info: SourceInfo) -> int:
        """While a preview runs beside it, the ladder yields the CPU to it: the preview must stay ahead of 1x."""
        previewed = self._settings.preview and info.duration_s >= self._settings.preview_min_seconds
        return self._settings.ladder_nice if previewed else 0

    async def discard_job(self, job: TranscodeJob) -> None:
        """A cancelled job stopped: remove what it wrote (a chunk's job: its own parts, of its own run)."""
        if job.chunk is not None:
            await self.chunks.discard_chunk(job)
        else:
            await self.discard(job.video_id)

    async def discard(self, video_id: str) -> None:
        """The video ended: remove what this service wrote for it (renditions, artwork, the preview)."""
        for prefix in (f"renditions/{video_id}/", f"artwork/{video_id}/", preview_prefix(video_id)):
            await self._storage.delete_prefix(prefix)

    async def give_up(self, job: TranscodeJob, reason: str) -> None:
        if job.chunk is not None:  # its video's job fails with its reason (chunks.py) and announces it
            return
        announce = Announcer(self._bus, job.video_id, job.correlation_id)
        failed = VideoFailed(stage="transcoder", reason=reason, attempts=job.attempts + job.crashes)
        await announce.once(failed, "transcoder")


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
