"""Handling `video.assembled`: transcode the original into the ladder and announce each rendition."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import time
from pathlib import Path

from vodkit_shared.bus import MessageBus
from vodkit_shared.events import Envelope, RenditionReady, TranscodeProgress, VideoAssembled, stable_event_id
from vodkit_shared.metadata import Collection, DuplicateKey
from vodkit_shared.storage import ObjectStorage
from vodkit_shared.tools import probe
from vodkit_transcoder.encode import EncodeJob, encode
from vodkit_transcoder.ladder import plan_ladder, segment_seconds
from vodkit_transcoder.settings import TranscoderSettings
from vodkit_transcoder.source import inspect

log = logging.getLogger(__name__)
PROGRESS_EVERY_S = 1.0


def rendition_key(video_id: str, rung: str) -> str:
    return f"renditions/{video_id}/{rung}.mp4"


class Transcoder:
    def __init__(self, storage: ObjectStorage, bus: MessageBus, jobs: Collection, settings: TranscoderSettings) -> None:
        self._storage = storage
        self._bus = bus
        self._jobs = jobs  # videos whose renditions are all announced: a redelivery is skipped
        self._settings = settings

    async def on_video_assembled(self, envelope: Envelope) -> None:
        assembled = envelope.payload(VideoAssembled)
        if await self._jobs.get(envelope.video_id):
            return
        work = Path(tempfile.mkdtemp(prefix="vodkit-transcode-", dir=self._settings.work_dir))
        try:
            await self._transcode(envelope, assembled, work)
        finally:
            await asyncio.to_thread(shutil.rmtree, work, True)
        with contextlib.suppress(DuplicateKey):
            await self._jobs.insert(envelope.video_id, {"state": "done", "at": time.time()})

    async def _transcode(self, envelope: Envelope, assembled: VideoAssembled, work: Path) -> None:
        source = work / "source"
        await self._storage.get_file(assembled.source_key, source)
        info = await inspect(source)
        job = EncodeJob(
            source, info, plan_ladder(info.height), segment_seconds(info.duration_s), self._settings.x264_preset, work
        )
        ladder = [rung.name for rung in job.rungs]
        started = time.monotonic()
        report = ProgressReporter(self._bus, envelope, ladder)
        await report(0.0)
        await encode(job, report)
        log.info(
            "ladder encoded",
            extra={"videoId": envelope.video_id, "ladder": ladder, "seconds": round(time.monotonic() - started, 2)},
        )
        for rung in job.rungs:
            await self._storage.put_file(rendition_key(envelope.video_id, rung.name), job.output(rung), "video/mp4")
        for rung in job.rungs:
            width, height = await _frame_size(job.output(rung))
            ready = RenditionReady(
                rung=rung.name,
                key=rendition_key(envelope.video_id, rung.name),
                width=width,
                height=height,
                ladder=ladder,
                segment_seconds=job.segment_s,
                duration_seconds=info.duration_s,
            )
            event_id = stable_event_id(RenditionReady.TYPE, envelope.video_id, rung.name)
            await self._bus.publish(envelope.follow(ready, event_id))


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
