"""Wiring of the transcoder: `video.assembled` enqueues a durable job; a runner works through them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from vodkit_shared.bus import RetryPolicy, Subscription
from vodkit_shared.events import Envelope, VideoAssembled
from vodkit_shared.failures import report_failure
from vodkit_shared.lifecycle import EndedVideos, Ending, subscribe_to_endings
from vodkit_shared.service import BUS, METADATA, STORAGE, service_app, with_resources
from vodkit_transcoder.hwaccel import choose
from vodkit_transcoder.jobs import JobQueue
from vodkit_transcoder.runner import JobRunner
from vodkit_transcoder.settings import TranscoderSettings
from vodkit_transcoder.worker import Transcoder

NAME = "transcoder"
log = logging.getLogger(__name__)


def create_app(settings: TranscoderSettings) -> web.Application:
    app = service_app(NAME)
    with_resources(app, settings)

    async def wire(app: web.Application) -> AsyncIterator[None]:
        policy = RetryPolicy(settings.retry_attempts, settings.retry_base_delay_s)
        queue = JobQueue(app[METADATA].collection("transcode_jobs"), settings.job_lease_s, policy)
        accel = await choose(settings.hwaccel)  # VODKIT_HWACCEL=nvenc without NVENC stops the start here
        log.info("encoder chosen", extra={"encoder": accel.encoder, "reason": accel.reason})
        transcoder = Transcoder(app[STORAGE], app[BUS], settings, accel)
        runner = JobRunner(
            queue,
            transcoder.transcode,
            transcoder.give_up,
            slots=settings.slots,
            lease_s=settings.job_lease_s,
            poll_s=settings.job_poll_s,
            discard=transcoder.discard,
        )

        async def on_video_assembled(envelope: Envelope) -> None:
            assembled = envelope.payload(VideoAssembled)
            if await queue.enqueue(envelope.video_id, assembled.source_key, envelope.correlation_id):
                runner.wake()

        await app[BUS].subscribe(
            Subscription(NAME, VideoAssembled.TYPE, on_video_assembled, on_give_up=report_failure(app[BUS], NAME))
        )

        async def on_video_ended(video_id: str, ending: Ending) -> None:
            """Stop its encode and remove its renditions and artwork; a finished job's stay until a deletion."""
            job = await queue.cancel(video_id)
            runner.cancel(video_id)
            if ending == "deleted" or job.state == "cancelled":
                await transcoder.discard(video_id)

        ended = EndedVideos(app[METADATA].collection("transcoder_ended"))
        await subscribe_to_endings(app[BUS], NAME, ended, on_video_ended)
        running = asyncio.create_task(runner.run(), name="transcode runner")
        yield
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await runner.stop()

    app.cleanup_ctx.append(wire)
    return app
