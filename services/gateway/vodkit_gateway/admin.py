"""The job console, for admins (`security: admin`): what is waiting, running and failed; a retry of a
failed video; each consumer's dead letters and their replay.

What it lists is the status projection (`videos.py`): the gateway hears every event, so it sees
each video's stage without reaching into another service's store. A retry publishes
`video.retried` under the next run's correlation id (`events.retry_correlation`): the transcoder
queues the job again (from the original, or announcing its stored renditions when packaging was
what failed), and every service's record of ended videos reopens the video for that run.
Dead letters are read from, and replayed to, the bus (`MessageBus.peek_dead_letters`,
`replay_dead_letters`).
"""

from __future__ import annotations

from aiohttp import web

from vodkit_gateway.api import reply
from vodkit_gateway.auth import caller, video_id
from vodkit_gateway.keys import SETTINGS, VIDEOS
from vodkit_gateway.schemas import (
    DeadLetterBody,
    DeadLetterList,
    JobBody,
    JobList,
    JobState,
    ReplayBody,
    RetryBody,
)
from vodkit_gateway.videos import VideoRecord
from vodkit_shared.bus.port import DeadLetter
from vodkit_shared.events import Envelope, VideoRetried, retry_correlation, stable_event_id
from vodkit_shared.service import BUS, ApiError

JOB_STATES: tuple[JobState, ...] = ("waiting", "running", "failed")
RETRYABLE_STAGES = ("transcoder", "packager")  # an upload that failed stored no original to start from


def job_state(video: VideoRecord) -> JobState | None:
    """Where the video's job is: waiting (assembled, no progress heard yet), running, failed; None if none."""
    if video.status == "failed":
        return "failed"
    if video.status == "processing":
        return "running" if video.qualities else "waiting"
    return None


def retry_refusal(video: VideoRecord) -> str | None:
    """Why the video cannot be retried, or None if it can."""
    if video.status != "failed":
        return f"the video is {video.status}: only a failed video can be retried"
    if video.failed_stage not in RETRYABLE_STAGES:
        return "the upload never completed, so there is no original to retry from: upload the file again"
    return None


async def list_jobs(request: web.Request) -> web.Response:
    wanted = request.query.get("state")
    if wanted is not None and wanted not in JOB_STATES:
        raise ApiError(400, "bad_request", f"state must be one of {', '.join(JOB_STATES)}")
    videos = request.app[VIDEOS]
    found = [*await videos.in_status("processing"), *await videos.in_status("failed")]
    jobs = [_job(video, state) for video in found if (state := job_state(video)) and wanted in (None, state)]
    return reply(JobList(jobs=jobs))


def _job(video: VideoRecord, state: JobState) -> JobBody:
    return JobBody(
        video_id=video.video_id,
        owner=video.owner,
        filename=video.filename,
        state=state,
        progress=video.progress,
        failed_stage=video.failed_stage,
        reason=video.error,
        attempts=video.attempts,
        retries=video.run,
        retryable=retry_refusal(video) is None,
        created_at=video.created_at,
        updated_at=video.updated_at,
    )


async def retry_video(request: web.Request) -> web.Response:
    """202: the video is `processing` again; it ends `completed` or `failed` like any other."""
    videos = request.app[VIDEOS]
    video = await videos.get(video_id(request))
    if video is None:
        raise ApiError(404, "not_found", "no such video")
    if (refusal := retry_refusal(video)) is not None:
        raise ApiError(409, "conflict", refusal)
    assert video.failed_stage is not None
    run = video.run + 1
    retried = VideoRetried(failed_stage=video.failed_stage, by=caller(request))
    envelope = Envelope.wrap(
        retried,
        video_id=video.video_id,
        correlation_id=retry_correlation(video.video_id, run),
        event_id=stable_event_id(VideoRetried.TYPE, video.video_id, str(run)),  # a second click is the same retry
    )
    await request.app[BUS].publish(envelope)
    await videos.on_event(envelope)  # the answer and the next status poll agree, before the bus brings it back
    return reply(RetryBody(video_id=video.video_id, status="processing", retries=run), status=202)


def _consumer(request: web.Request, name: str) -> str:
    """A consumer the console knows (VODKIT_DEAD_LETTER_SERVICES): 404 for others, so no name from a
    request ever makes the bus declare a queue."""
    if name not in request.app[SETTINGS].dead_letter_services:
        raise ApiError(404, "not_found", f"no consumer named {name[:40]!r}")
    return name


async def list_dead_letters(request: web.Request) -> web.Response:
    asked = request.query.get("service")
    services = [_consumer(request, asked)] if asked is not None else request.app[SETTINGS].dead_letter_services
    bus = request.app[BUS]
    letters = [_dead_letter(service, letter) for service in services for letter in await bus.peek_dead_letters(service)]
    return reply(DeadLetterList(dead_letters=letters))


def _dead_letter(service: str, letter: DeadLetter) -> DeadLetterBody:
    envelope = letter.envelope
    return DeadLetterBody(
        service=service,
        event_id=str(envelope.id),
        type=envelope.type,
        video_id=envelope.video_id,
        occurred_at=envelope.occurred_at.isoformat(),
        queue=letter.queue,
        error=letter.error,
        attempts=max(1, letter.attempts),
    )


async def replay_dead_letters(request: web.Request) -> web.Response:
    service = _consumer(request, request.match_info["service"])
    replayed = await request.app[BUS].replay_dead_letters(service)
    return reply(ReplayBody(service=service, replayed=replayed))
