"""An admin's retry of a failed video starts a new run: its events count, the failed run's no longer do."""

from __future__ import annotations

import pytest

from tests.support import eventually
from tests.unit.conftest import Adapters
from vodkit_gateway.admin import job_state, retry_refusal
from vodkit_gateway.videos import VideoRecord, project
from vodkit_shared.bus import RetryPolicy
from vodkit_shared.events import (
    Envelope,
    Event,
    PackageDone,
    RenditionReady,
    TranscodeProgress,
    VideoAssembled,
    VideoFailed,
    VideoRetried,
    retry_correlation,
    run_of,
)
from vodkit_shared.lifecycle import EndedVideos
from vodkit_shared.metadata import MetadataStore
from vodkit_transcoder.consumers import TranscodeEvents
from vodkit_transcoder.jobs import JobQueue

pytestmark = pytest.mark.unit
VIDEO = "v1"
LADDER = ["480p"]


def env(payload: Event, run: int = 0) -> Envelope:
    return Envelope.wrap(payload, video_id=VIDEO, correlation_id=retry_correlation(VIDEO, run))


FAILED = VideoFailed(stage="transcoder", reason="not a video file", attempts=3)
RETRIED = VideoRetried(failed_stage="transcoder", by="ops")
READY = RenditionReady(
    rung="480p", key="renditions/v1/480p.mp4", width=854, height=480, ladder=LADDER, segment_seconds=6,
    duration_seconds=8,
)  # fmt: skip
DONE = PackageDone(master_key="hls/v1/master.m3u8", prefix="hls/v1/", renditions=LADDER, duration_seconds=8)


def test_the_run_is_in_the_correlation_id() -> None:
    assert [run_of(retry_correlation(VIDEO, n)) for n in (0, 1, 12)] == [0, 1, 12]
    assert retry_correlation(VIDEO, 0) == VIDEO  # the upload's run keeps the id it always had
    assert run_of("anything:retry-x") == 0


def fold(*events: Envelope) -> VideoRecord:
    video = VideoRecord(video_id=VIDEO, owner="alice", filename="a.mp4", size=10)
    for event in events:
        video = project(video, event)
    return video


def test_a_retry_takes_a_failed_video_back_to_processing_and_it_can_complete() -> None:
    failed = fold(env(VideoAssembled(source_key="k", size=10)), env(FAILED))
    assert (failed.status, failed.failed_stage, job_state(failed), retry_refusal(failed)) == (
        "failed", "transcoder", "failed", None,
    )  # fmt: skip
    assert failed.attempts == 3
    retried = project(failed, env(RETRIED, 1))
    assert retried.attempts is None
    assert (retried.status, retried.error, retried.failed_stage, retried.run) == ("processing", None, None, 1)
    assert job_state(retried) == "waiting"
    assert project(retried, env(TranscodeProgress(percent=5, ladder=LADDER), 1)).qualities == {"480p": "processing"}
    assert project(retried, env(DONE, 1)).status == "completed"


def test_late_events_of_the_failed_run_change_nothing_after_the_retry() -> None:
    retried = fold(env(FAILED), env(RETRIED, 1))
    assert project(retried, env(FAILED)).status == "processing"  # the first failure, delivered again
    assert project(retried, env(DONE)).status == "processing"


def test_the_first_event_of_a_new_run_starts_it_before_its_retry_is_heard() -> None:
    failed = fold(env(FAILED))
    assert project(failed, env(TranscodeProgress(percent=40, ladder=LADDER), 1)).status == "processing"
    assert project(failed, env(DONE, 1)).status == "completed"
    assert project(fold(env(FAILED), env(DONE, 1)), env(RETRIED, 1)).status == "completed"  # retry heard last


def test_only_a_video_that_failed_after_its_upload_is_retryable() -> None:
    assert retry_refusal(fold(env(VideoFailed(stage="packager", reason="r")))) is None
    upload_failed = fold(env(VideoFailed(stage="upload", reason="expired")))
    assert "upload the file again" in (retry_refusal(upload_failed) or "")
    assert "only a failed video" in (retry_refusal(fold(env(DONE))) or "")


async def test_an_ended_record_reopens_for_the_retry_and_drops_only_the_failed_runs_work(store: MetadataStore) -> None:
    ended = EndedVideos(store.collection("svc_ended"))
    assert await ended.record(VIDEO, "failed", run=0)
    assert await ended.ended(VIDEO)
    assert await ended.ended_for(env(READY))
    await ended.reopen(VIDEO, 1)
    assert not await ended.ended(VIDEO)
    assert await ended.ended_for(env(READY))  # a late rendition of the failed run: still dropped
    assert not await ended.ended_for(env(READY, 1))
    assert not await ended.record(VIDEO, "failed", run=0)  # stale: nothing ends, on_end does not run
    assert not await ended.ended(VIDEO)
    assert await ended.record(VIDEO, "failed", run=1)
    assert await ended.ending(VIDEO) == "failed"
    assert await ended.ended_for(env(READY, 1))
    await ended.reopen(VIDEO, 1)  # that retry's event, late: the run failed since
    assert await ended.ended(VIDEO)
    assert await ended.record(VIDEO, "deleted")
    await ended.reopen(VIDEO, 2)
    assert await ended.ending(VIDEO) == "deleted"
    assert await ended.ended_for(env(READY, 2))


async def test_a_retry_heard_before_the_failure_makes_that_failure_stale(store: MetadataStore) -> None:
    ended = EndedVideos(store.collection("svc_ended"))
    await ended.reopen(VIDEO, 1)
    assert not await ended.record(VIDEO, "failed", run=0)
    assert not await ended.ended(VIDEO)
    assert not await ended.ended_for(env(READY, 1))


class Runner:
    woken = 0

    def wake(self) -> None:
        self.woken += 1


async def test_the_transcoder_queues_a_failed_job_afresh_and_a_done_one_to_announce_again(adapters: Adapters) -> None:
    jobs = JobQueue(adapters.metadata.collection("transcode_jobs"), lease_s=60, policy=RetryPolicy(attempts=1))
    runner = Runner()
    events = TranscodeEvents(jobs, runner, None, adapters.bus)  # type: ignore[arg-type]  # no transcode here
    assert await jobs.enqueue(VIDEO, "originals/v1/source", VIDEO)
    claimed = await jobs.claim("w1")
    assert claimed is not None
    assert await jobs.fail(VIDEO, "w1", "not a video", permanent=True)

    await events.on_video_retried(env(RETRIED, 1))
    job = await jobs.get(VIDEO)
    assert job is not None
    assert runner.woken == 1
    assert (job.state, job.attempts, job.error, job.correlation_id) == ("queued", 0, None, retry_correlation(VIDEO, 1))
    await events.on_video_retried(env(RETRIED, 1))  # the same retry again: nothing more
    assert runner.woken == 1

    # that run encodes, then packaging fails: the next retry announces the stored ladder under run 2
    claimed = await jobs.claim("w2")
    assert claimed is not None
    first = env(READY, 1)
    assert await jobs.keep_stored(VIDEO, "w2", [first.model_dump(mode="json")])
    await jobs.finish(VIDEO, "w2")
    await events.on_video_retried(env(VideoRetried(failed_stage="packager", by="ops"), 2))
    job = await jobs.get(VIDEO)
    assert job is not None
    assert job.state == "queued"
    assert len(job.stored) == 1
    again = Envelope.model_validate(job.stored[0])
    assert again.correlation_id == retry_correlation(VIDEO, 2)
    assert again.id != first.id
    assert again.data == first.data


async def test_a_retry_the_transcoder_cannot_act_on_fails_the_video_again(adapters: Adapters) -> None:
    jobs = JobQueue(adapters.metadata.collection("transcode_jobs"), lease_s=60, policy=RetryPolicy())
    failures = await adapters.heard(VideoFailed.TYPE)
    events = TranscodeEvents(jobs, Runner(), None, adapters.bus)  # type: ignore[arg-type]
    await events.on_video_retried(env(RETRIED, 1))
    await eventually(lambda: len(failures) == 1)
    [failed] = failures
    assert failed.correlation_id == retry_correlation(VIDEO, 1)  # it ends the retry's run: never `processing`
    assert "cannot retry" in failed.payload(VideoFailed).reason
