"""A long source's ladder in chunks, each a leased job of its own that any transcoder takes.

A source of `chunk_min_seconds` or more is cut into chunks of `chunk_seconds` (rounded up to whole
segments, so every chunk starts a segment and its keyframe). The video's own job:

1. records a job for each chunk in the queue (`JobQueue.enqueue_chunks`; once per run: a worker that
   takes the job over keeps the run's chunks, whatever its own settings);
2. encodes the audio once for the whole source, while it
3. takes its own chunks one at a time (`JobRunner.attempt`: the same lease, heartbeat and retries as
   any job), while other workers take the others (`JobQueue.claim` hands them out like videos);
4. once no chunk is left to take, waits for those others hold (a chunk whose worker died is due
   again when its lease lapses, and is taken again, by any worker: only that chunk is redone);
5. stitches each rung's chunks and the audio into the rendition (`encode.stitch`, stream copy),
   and makes the storyboard from the lowest rung. From there on it is a video's job like any other.

The watermark is fixed for the run when it is planned: the video's job stores the PNG it read beside the
run's parts (`watermark_key`) and records its placement in every chunk job, and each chunk, whichever
worker takes it (and the video's job, taken over by another worker), burns in that one, whatever the
`watermarks` record says by then: a change to it cannot reach some chunks and not others.

Each chunk's renditions are stored (`renditions/{video}/chunks/run-R/chunk-NNN/{rung}.ts`) before
its job is done, so a chunk done is never encoded again, whichever worker dies; they are removed
once the stitched renditions are stored. A chunk that fails for good fails the video with its reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from vodkit_shared.events import run_of
from vodkit_shared.scratch import scratch_dir
from vodkit_shared.storage import ObjectStorage
from vodkit_shared.watermarks import Watermarks
from vodkit_transcoder.artwork import storyboard_from
from vodkit_transcoder.encode import EncodeJob, encode, encode_audio, stitch
from vodkit_transcoder.errors import TranscodeRefused
from vodkit_transcoder.jobs import Chunk, JobQueue, TranscodeJob
from vodkit_transcoder.outages import outlasting
from vodkit_transcoder.source import SourceInfo, SourceLimits, inspect
from vodkit_transcoder.watermark import Overlay, fetch_overlay, overlay_of

log = logging.getLogger(__name__)
Attempt = Callable[[TranscodeJob], Awaitable[None]]
Progress = Callable[[float], Awaitable[None]]
CHUNK_SCRATCH_PREFIX = "vodkit-transcode-chunk-"


class ChunkFailed(TranscodeRefused):
    """A chunk failed for good (its attempts spent, or its part of the source refused): so does the video."""


def plan_chunks(duration_s: float, segment_s: int, chunk_s: float, run: int) -> list[Chunk]:
    """Chunks of whole segments; a last piece shorter than a segment joins the chunk before it."""
    length = max(1, math.ceil(chunk_s / segment_s)) * segment_s
    starts = [i * length for i in range(max(1, math.ceil(duration_s / length)))]
    if len(starts) > 1 and duration_s - starts[-1] < segment_s:
        starts.pop()
    ends: list[float | None] = [*starts[1:], None]
    return [
        Chunk(index=i, count=len(starts), start_s=start, end_s=end, run=run)
        for i, (start, end) in enumerate(zip(starts, ends, strict=True))
    ]


def chunks_prefix(video_id: str) -> str:
    return f"renditions/{video_id}/chunks/"


def chunk_prefix(job: TranscodeJob) -> str:
    """Where one chunk job's parts are stored."""
    assert job.chunk is not None
    return f"{chunks_prefix(job.video_id)}run-{job.chunk.run}/chunk-{job.chunk.index:03d}/"


def part_key(job: TranscodeJob, rung: str) -> str:
    return f"{chunk_prefix(job)}{rung}.ts"


def watermark_key(video_id: str, run: int) -> str:
    """The PNG of the watermark the run's chunks burn in (removed with the parts)."""
    return f"{chunks_prefix(video_id)}run-{run}/watermark.png"


@dataclass(frozen=True)
class LocalSource:
    """A source this process holds while its video's job runs here: its chunks here need no copy of it."""

    path: Path
    info: SourceInfo
    nice: int
    watermark: Overlay | None = None


@dataclass(frozen=True)
class ChunkSettings:
    chunk_seconds: float
    min_seconds: float
    poll_s: float
    limits: SourceLimits  # this worker's: a chunk's worker probes the source again (the pool shares settings)


class ChunkedLadder:
    """Encodes chunk jobs (whoever claimed them) and runs a video's chunked ladder from its own job."""

    def __init__(
        self,
        storage: ObjectStorage,
        jobs: JobQueue | None,
        settings: ChunkSettings,
        make_job: Callable[..., EncodeJob],
        work_dir: Path | None,
        watermarks: Watermarks | None = None,
    ) -> None:
        self._storage = storage
        self._jobs = jobs
        self._settings = settings
        self._make_job = make_job  # (source, info, out_dir, nice, window, watermark) → this service's ladder
        self._watermarks = watermarks  # read by a chunk planned before its run fixed its watermark
        self._work_dir = work_dir
        self._attempt: Attempt | None = None
        self._local: dict[str, LocalSource] = {}  # video id → its source, while its job runs here

    def run_claimed_with(self, attempt: Attempt) -> None:
        """How a video's job runs a chunk job it claimed (the runner's `attempt`): wired once both exist."""
        self._attempt = attempt

    async def applies(self, parent: TranscodeJob, info: SourceInfo) -> bool:
        """Chunk this video's ladder: it is long enough here, or its run was chunked already (by a worker
        with other settings, before this one took its job over: the run's chunks stand as planned)."""
        if self._jobs is None or self._attempt is None or info.audio_only or not info.seeks_exactly:
            return False
        if self._settings.chunk_seconds > 0 and info.duration_s >= self._settings.min_seconds:
            return True
        return bool(await self._jobs.chunks_of(parent))

    async def encode_chunk(self, job: TranscodeJob) -> None:
        """A chunk job: encode its window of the source into every rung and store them."""
        assert job.chunk is not None
        local = self._local.get(job.video_id)
        started = time.monotonic()
        async with scratch_dir(CHUNK_SCRATCH_PREFIX, self._work_dir) as work:
            if local is None:  # another worker's video: fetch the source
                source = work / "source"
                await self._storage.get_file(job.source_key, source)
                info = await inspect(source, self._settings.limits)
                local = LocalSource(source, info, 0, await self._run_overlay(job, work))
            encoded = self._make_job(local.path, local.info, work / "out", local.nice, job.chunk, local.watermark)
            await encode(encoded, _no_progress)
            for rung in encoded.rungs:
                await self._store_part(job, rung.name, encoded.output(rung))
        seconds = round(time.monotonic() - started, 2)  # fetch, encode and store: what a chunk costs a worker
        part = {"chunk": job.chunk.index, "of": job.chunk.count, "seconds": seconds}
        log.info("chunk encoded", extra={"videoId": job.video_id, **part})

    async def _run_overlay(self, job: TranscodeJob, work: Path) -> Overlay | None:
        """The watermark the chunk's run fixed when it was planned, written into `work`."""
        assert job.chunk is not None
        here = work / "run"  # not the video job's own copy, which its preview may be reading
        await asyncio.to_thread(here.mkdir, exist_ok=True)
        if not job.chunk.watermark_fixed:  # planned by a worker before this change: the record, as it did
            return await fetch_overlay(self._watermarks, job.video_id, here)
        if job.chunk.watermark is None:
            return None
        png = here / "stored.png"
        await self._storage.get_file(watermark_key(job.video_id, job.chunk.run), png)
        return await overlay_of(await asyncio.to_thread(png.read_bytes), job.chunk.watermark, here)

    async def _plan(self, parent: TranscodeJob, info: SourceInfo, segment_s: int, watermark: Overlay | None) -> None:
        """The run's chunk jobs, each with the watermark the video's job read (its PNG stored first)."""
        assert self._jobs is not None
        run = run_of(parent.correlation_id)
        if watermark is not None:
            key = watermark_key(parent.video_id, run)
            await outlasting(lambda: self._storage.put_file(key, watermark.png, "image/png"), parent.video_id, "store")
        fixed = {"watermark": watermark.placement if watermark else None, "watermark_fixed": True}
        plan = [
            c.model_copy(update=fixed)
            for c in plan_chunks(info.duration_s, segment_s, self._settings.chunk_seconds, run)
        ]
        await self._jobs.enqueue_chunks(parent, plan)
        log.info("ladder in chunks", extra={"videoId": parent.video_id, "chunks": len(plan)})

    async def _store_part(self, job: TranscodeJob, rung: str, path: Path) -> None:
        key = part_key(job, rung)
        await outlasting(lambda: self._storage.put_file(key, path, "video/mp2t"), job.video_id, "store")

    @contextlib.asynccontextmanager
    async def holding(
        self, video_id: str, source: Path, info: SourceInfo, nice: int, watermark: Overlay | None = None
    ) -> AsyncIterator[None]:
        self._local[video_id] = LocalSource(source, info, nice, watermark)
        try:
            yield
        finally:
            self._local.pop(video_id, None)

    async def encode(
        self,
        parent: TranscodeJob,
        source: Path,
        info: SourceInfo,
        work: Path,
        nice: int,
        report: Progress,
        watermark: Overlay | None = None,
    ) -> EncodeJob:
        """The video's ladder, chunk by chunk across the pool; returns it stitched, as a single pass leaves it."""
        assert self._jobs is not None
        assert self._attempt is not None
        stitched = self._make_job(source, info, work / "out", nice, None, watermark)
        if planned := await self._jobs.chunks_of(parent):  # planned once a run, whoever takes the job over
            watermark = await self._run_overlay(planned[0], work)  # the run's, not the record read now
        else:
            await self._plan(parent, info, stitched.segment_s, watermark)
        audio = work / "audio.m4a" if info.has_audio else None
        async with self.holding(parent.video_id, source, info, nice, watermark):
            audio_task = asyncio.create_task(encode_audio(source, info, audio, nice)) if audio else None
            try:
                chunks = await self._encode_every_chunk(parent, report)
                if audio_task is not None:
                    await audio_task
            finally:
                if audio_task is not None and not audio_task.done():
                    audio_task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await audio_task
        started = time.monotonic()
        await asyncio.to_thread(stitched.storyboard_dir.mkdir, parents=True, exist_ok=True)
        parts = work / "parts"
        for rung in stitched.rungs:
            await asyncio.to_thread((parts / rung.name).mkdir, parents=True, exist_ok=True)
            paths = []
            for chunk in chunks:
                path = parts / rung.name / f"{chunk.key.rsplit('/', 1)[-1]}.ts"
                await self._storage.get_file(part_key(chunk, rung.name), path)
                paths.append(path)
            await stitch(paths, audio, info, stitched.output(rung))
            await asyncio.to_thread(_remove_all, paths)
        lowest = stitched.output(stitched.rungs[-1])
        await storyboard_from(lowest, stitched.storyboard, stitched.thumbnails, stitched.storyboard_dir)
        seconds = round(time.monotonic() - started, 2)
        log.info("ladder stitched", extra={"videoId": parent.video_id, "chunks": len(chunks), "seconds": seconds})
        return stitched

    async def _encode_every_chunk(self, parent: TranscodeJob, report: Progress) -> list[TranscodeJob]:
        """Take the video's chunks due, one at a time, until every chunk is done; returns them."""
        assert self._jobs is not None
        assert self._attempt is not None
        while True:
            try:
                chunks = await self._jobs.chunks_of(parent)
                done = [c for c in chunks if c.state == "done"]
                await report(100.0 * len(done) / max(1, len(chunks)))
                if failed := next((c for c in chunks if c.state == "failed"), None):
                    assert failed.chunk is not None
                    part = f"part {failed.chunk.index + 1} of {failed.chunk.count}"
                    raise ChunkFailed(f"{part} of the video failed: {failed.error}")
                if len(done) == len(chunks):
                    return chunks
                # a cancelled chunk: the video ended, and this job's heartbeat stops it (cancelled first)
                claimed = await self._jobs.claim_chunk_of(parent, parent.worker)
                if claimed is not None:
                    await self._attempt(claimed)
                    continue
            except (ChunkFailed, asyncio.CancelledError):
                raise
            except Exception as error:  # noqa: BLE001 - the store may be back at the next look; the lease holds
                log.warning("chunks not looked at", extra={"videoId": parent.video_id, "error": str(error)})
            await asyncio.sleep(self._settings.poll_s)  # the rest are another worker's, or due later

    async def discard_parts(self, video_id: str) -> None:
        await self._storage.delete_prefix(chunks_prefix(video_id))

    async def discard_chunk(self, job: TranscodeJob) -> None:
        """A cancelled chunk's own parts (not another run's, nor the video's other chunks')."""
        await self._storage.delete_prefix(chunk_prefix(job))


async def _no_progress(_: float) -> None:
    return None


def _remove_all(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
