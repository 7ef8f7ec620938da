"""A long video's chunk jobs (chunks.py) in the queue: planned in whole segments, handed out with their
video, taken again alone when their worker dies, cancelled with their video."""

from __future__ import annotations

import asyncio

import pytest

from tests.unit.test_transcode_jobs import Clock
from vodkit_shared.bus import RetryPolicy
from vodkit_shared.metadata import MetadataStore
from vodkit_transcoder.chunks import ChunkedLadder, ChunkSettings, plan_chunks
from vodkit_transcoder.jobs import JobQueue, TranscodeJob
from vodkit_transcoder.runner import JobRunner
from vodkit_transcoder.source import SourceLimits

pytestmark = pytest.mark.unit


async def chunked(queue: JobQueue, video_id: str, duration_s: float) -> TranscodeJob:
    """The video's job, claimed by worker "a", with its chunk jobs recorded (as the video's job does)."""
    assert await queue.enqueue(video_id, f"originals/{video_id}/source", f"{video_id}-c1")
    parent = await queue.claim("a")
    assert parent is not None
    assert parent.video_id == video_id
    await queue.enqueue_chunks(parent, plan_chunks(duration_s, 6, 60, 0))
    return parent


def test_chunks_are_whole_segments_and_cover_the_source() -> None:
    plan = plan_chunks(600, 6, 60, 0)
    assert [(c.start_s, c.end_s) for c in plan][:2] == [(0, 60), (60, 120)]
    assert (len(plan), plan[-1].start_s, plan[-1].end_s) == (10, 540, None)  # the last runs to the end
    assert [c.start_s for c in plan_chunks(600, 10, 64, 0)][:3] == [0, 70, 140]  # rounded up to segments
    assert len(plan_chunks(605, 6, 60, 0)) == 10  # a 5 s remainder joins the last chunk
    assert len(plan_chunks(607, 6, 60, 0)) == 11  # a 7 s one is a chunk of its own
    assert [(c.start_s, c.end_s) for c in plan_chunks(30, 6, 60, 0)] == [(0, None)]


async def test_chunk_jobs_are_recorded_once_and_taken_with_their_video(store: MetadataStore) -> None:
    clock = Clock()
    queue = JobQueue(store.collection("transcode_jobs"), 60, RetryPolicy(3, 1.0), clock=clock)
    parent = await chunked(queue, "v1", 180)
    await queue.enqueue_chunks(parent, plan_chunks(180, 6, 60, 0))  # a re-run of the video's job
    assert [j.key for j in await queue.chunks_of(parent)] == [f"v1/run-0/chunk-00{i}" for i in range(3)]
    clock.now += 1
    assert await queue.enqueue("v2", "originals/v2/source", "v2-c1")  # a later video waits for v1's chunks
    taken = [await queue.claim("b") for _ in range(4)]
    assert [j.key if j else None for j in taken] == [*(f"v1/run-0/chunk-00{i}" for i in range(3)), "v2"]
    assert (await queue.backlog()).waiting == 0


async def test_a_dead_workers_chunk_alone_is_taken_again(store: MetadataStore) -> None:
    clock = Clock()
    queue = JobQueue(store.collection("transcode_jobs"), 60, RetryPolicy(3, 1.0), clock=clock)
    parent = await chunked(queue, "v1", 180)
    first = await queue.claim_chunk_of(parent, "a")
    second = await queue.claim_chunk_of(parent, "b")
    assert first is not None
    assert second is not None
    await queue.finish(first.key, "a")
    clock.now += 61  # b died: its lease lapsed
    again = await queue.claim_chunk_of(parent, "a")
    assert again is not None
    assert (again.key, again.crashes) == (second.key, 1)
    states = {j.key: (j.state, j.crashes) for j in await queue.chunks_of(parent)}
    assert states[first.key] == ("done", 0)  # never taken again


async def test_cancelling_a_video_cancels_its_chunks(store: MetadataStore) -> None:
    queue = JobQueue(store.collection("transcode_jobs"), 60, RetryPolicy(3, 1.0), clock=Clock())
    parent = await chunked(queue, "v1", 180)
    running = await queue.claim_chunk_of(parent, "b")
    assert running is not None
    await queue.cancel("v1")
    assert {j.state for j in await queue.chunks_of(parent)} == {"cancelled"}
    assert await queue.renew(running.key, "b") is False  # its worker stops at its next heartbeat
    assert await queue.claim("c") is None


async def test_a_failed_chunk_announces_nothing_of_its_own(store: MetadataStore) -> None:
    """Its video's job fails with its reason and announces that (an outbox entry per chunk would repeat it)."""
    queue = JobQueue(store.collection("transcode_jobs"), 60, RetryPolicy(3, 1.0), clock=Clock())
    parent = await chunked(queue, "v1", 180)
    part = await queue.claim_chunk_of(parent, "b")
    assert part is not None
    assert await queue.fail(part.key, "b", "cannot be decoded", permanent=True)
    assert [j.key for j in await queue.unannounced()] == []


async def test_a_video_whose_chunks_are_cancelled_is_stopped_not_failed(store: MetadataStore) -> None:
    """Chunks cancelled before their video's job (another replica's cancel, half done) failed the video
    for good ("part 1 of 3 failed: cancelled"), announcing a video.failed nobody had caused."""
    queue = JobQueue(store.collection("transcode_jobs"), 60, RetryPolicy(3, 1.0), clock=Clock())
    parent = await chunked(queue, "v1", 180)
    while await queue.claim_chunk_of(parent, "b") is not None:  # every chunk is another worker's
        pass
    for part in await queue.chunks_of(parent):
        await store.collection("transcode_jobs").update(part.key, lambda d: {**d, "state": "cancelled"})

    async def attempt(job: TranscodeJob) -> None:
        raise AssertionError("nothing is left to take")

    async def report(_: float) -> None:
        return None

    ladder = ChunkedLadder(FileStorageStub(), queue, ChunkSettings(60, 0, 0.01, SourceLimits()), _no_job, None)
    ladder.run_claimed_with(attempt)
    with pytest.raises(TimeoutError):  # it waits, for its heartbeat to find its own job cancelled and stop it
        await asyncio.wait_for(ladder._encode_every_chunk(parent, report), 0.3)


async def test_a_chunk_run_inline_passes_its_callers_cancellation_on(store: MetadataStore) -> None:
    """A video's job cancelled while it ran one of its chunks carried on: the chunk's attempt took the
    cancellation for its own (both were stopped by the video's end) and returned."""
    queue = JobQueue(store.collection("transcode_jobs"), 60, RetryPolicy(3, 1.0), clock=Clock())
    parent = await chunked(queue, "v1", 180)

    async def work(job: TranscodeJob) -> None:
        await asyncio.sleep(60)

    async def give_up(job: TranscodeJob, reason: str) -> None:
        return None

    runner = JobRunner(queue, work, give_up, slots=1, lease_s=60, poll_s=0.05)
    part = await queue.claim_chunk_of(parent, runner.worker)
    assert part is not None
    carried_on = asyncio.Event()

    async def video_job() -> None:
        await runner.attempt(part)
        carried_on.set()

    task = asyncio.create_task(video_job())
    await asyncio.sleep(0.1)
    await queue.cancel("v1")
    runner.cancel("v1")  # the chunk's stop...
    task.cancel()  # ...and its video job's, at once
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not carried_on.is_set()


class FileStorageStub:
    """No storage is reached while chunks are only waited for."""


def _no_job(*_: object) -> object:
    raise AssertionError("no encode is planned")
