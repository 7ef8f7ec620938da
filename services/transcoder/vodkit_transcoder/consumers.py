"""The transcoder's consumers: `video.assembled` enqueues a job; a video's end cancels it; an admin's
retry queues it again."""

from __future__ import annotations

from vodkit_shared.bus import MessageBus
from vodkit_shared.events import Envelope, VideoAssembled, VideoFailed, stable_event_id
from vodkit_shared.lifecycle import Ending
from vodkit_transcoder.jobs import JobQueue
from vodkit_transcoder.runner import JobRunner
from vodkit_transcoder.worker import Transcoder


class TranscodeEvents:
    def __init__(self, jobs: JobQueue, runner: JobRunner, transcoder: Transcoder, bus: MessageBus) -> None:
        self._jobs = jobs
        self._bus = bus
        self._runner = runner
        self._transcoder = transcoder

    async def on_video_assembled(self, envelope: Envelope) -> None:
        """Record a durable job and ack: the encode may outlive any broker timeout (see jobs.py)."""
        assembled = envelope.payload(VideoAssembled)
        if await self._jobs.enqueue(envelope.video_id, assembled.source_key, envelope.correlation_id):
            self._runner.wake()

    async def on_video_ended(self, video_id: str, ending: Ending) -> None:
        """Stop its encode and remove its renditions and artwork; a finished job's stay until a deletion."""
        job = await self._jobs.cancel(video_id)
        self._runner.cancel(video_id)
        if ending == "deleted" or job.state == "cancelled":
            await self._transcoder.discard(video_id)

    async def on_video_retried(self, envelope: Envelope) -> None:
        """Queue the failed video's job again; with no job to retry, the retry fails at once (never `processing`)."""
        outcome = await self._jobs.retry(envelope.video_id, envelope.correlation_id)
        if outcome == "queued":
            self._runner.wake()
        elif outcome == "no-job":
            reason = "cannot retry: the transcoder never had this video's original"
            failed = VideoFailed(stage="transcoder", reason=reason)
            event_id = stable_event_id(VideoFailed.TYPE, envelope.video_id, "no-job", envelope.correlation_id)
            await self._bus.publish(envelope.follow(failed, event_id))
