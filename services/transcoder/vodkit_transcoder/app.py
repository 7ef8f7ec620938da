"""Wiring of the transcoder: one cleanup context per part it runs.

| part | what |
|---|---|
| `_scratch` | removes the scratch directories that killed workers left (`vodkit_shared.scratch`) |
| `_domain` | the encoder (NVENC or libx264) and its threads (`vodkit_shared.cpus`), job queue, transcoder, runner |
| `_consumers` | `TranscodeEvents` (`consumers.py`): `on_video_assembled`, `on_video_ended`, `on_video_retried` |
| `_runner` | `JobRunner.run`: claims due jobs and transcodes them; on stop, hands its jobs back |
| `_backlog` | `backlog.export_backlog`: jobs by state and the oldest's age (to scale on), the scratch disk's room |
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from vodkit_shared.bus import RetryPolicy, Subscription
from vodkit_shared.content_keys import ContentKeys
from vodkit_shared.cpus import available_cpus
from vodkit_shared.events import VideoAssembled
from vodkit_shared.failures import report_failure
from vodkit_shared.lifecycle import EndedVideos, subscribe_to_endings
from vodkit_shared.scratch import sweep_abandoned
from vodkit_shared.service import BUS, METADATA, STORAGE, running_every, service_app, with_resources
from vodkit_shared.watermarks import COLLECTION as WATERMARKS
from vodkit_shared.watermarks import Watermarks
from vodkit_transcoder.backlog import export_backlog
from vodkit_transcoder.consumers import TranscodeEvents
from vodkit_transcoder.hwaccel import choose
from vodkit_transcoder.jobs import JobQueue
from vodkit_transcoder.keys import JOBS, RUNNER, SETTINGS, TRANSCODER
from vodkit_transcoder.runner import JobRunner
from vodkit_transcoder.settings import TranscoderSettings
from vodkit_transcoder.worker import SCRATCH_PREFIX, Transcoder

NAME = "transcoder"
log = logging.getLogger(__name__)


def create_app(settings: TranscoderSettings) -> web.Application:
    app = service_app(NAME)
    app[SETTINGS] = settings
    with_resources(app, settings)
    app.cleanup_ctx.extend([_scratch, _domain, _consumers, _runner, _backlog])
    return app


async def _scratch(app: web.Application) -> AsyncIterator[None]:
    await sweep_abandoned(SCRATCH_PREFIX, app[SETTINGS].work_dir)
    yield


async def _domain(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    policy = RetryPolicy(settings.retry_attempts, settings.retry_base_delay_s)
    collection = app[METADATA].collection("transcode_jobs")
    app[JOBS] = JobQueue(collection, settings.job_lease_s, policy, max_crashes=settings.job_max_crashes)
    accel = await choose(settings.hwaccel)  # VODKIT_HWACCEL=nvenc without NVENC stops the start here
    log.info("encoder chosen", extra={"encoder": accel.encoder, "reason": accel.reason})
    threads = settings.threads or max(1, await asyncio.to_thread(available_cpus) // settings.slots)
    log.info("ffmpeg threads per transcode", extra={"threads": threads, "slots": settings.slots})
    keys = ContentKeys(app[METADATA].reader("content_keys"))  # only whether a video is encrypted
    watermarks = Watermarks(app[METADATA].reader(WATERMARKS))  # the gateway writes them, a job reads its video's
    transcoder = app[TRANSCODER] = Transcoder(
        app[STORAGE], app[BUS], settings, accel, threads, app[JOBS], keys, watermarks=watermarks
    )
    app[RUNNER] = JobRunner(
        app[JOBS],
        transcoder.transcode,
        transcoder.give_up,
        slots=settings.slots,
        lease_s=settings.job_lease_s,
        poll_s=settings.job_poll_s,
        discard=transcoder.discard_job,
    )
    transcoder.chunks.run_claimed_with(app[RUNNER].attempt)  # a video's job runs its own chunks in its slot
    yield


async def _consumers(app: web.Application) -> AsyncIterator[None]:
    bus = app[BUS]
    events = TranscodeEvents(app[JOBS], app[RUNNER], app[TRANSCODER], bus)
    await bus.subscribe(
        Subscription(NAME, VideoAssembled.TYPE, events.on_video_assembled, on_give_up=report_failure(bus, NAME))
    )
    ended = EndedVideos(app[METADATA].collection("transcoder_ended"))
    await subscribe_to_endings(bus, NAME, ended, events.on_video_ended, on_retry=events.on_video_retried)
    yield


async def _runner(app: web.Application) -> AsyncIterator[None]:
    runner = app[RUNNER]
    log.info("taking transcode jobs", extra={"worker": runner.worker})  # the name its leases carry
    running = asyncio.create_task(runner.run(), name="transcode runner")
    yield
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    await runner.stop()  # the jobs it ran go back to the queue at once, their attempts uncounted


async def _backlog(app: web.Application) -> AsyncIterator[None]:
    jobs, scratch = app[JOBS], app[SETTINGS].work_dir
    async with running_every(app[SETTINGS].job_poll_s, lambda: export_backlog(jobs, scratch, NAME)):
        yield
