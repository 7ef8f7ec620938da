"""Durable transcode jobs: claimed once, held by a lease, retried with backoff, taken over when a worker dies."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY

from tests.support import eventually
from vodkit_shared.bus import BusUnavailable, RetryPolicy
from vodkit_shared.metadata import MetadataStore
from vodkit_transcoder.backlog import export_backlog
from vodkit_transcoder.errors import UnsupportedMedia
from vodkit_transcoder.jobs import Backlog, JobQueue, TranscodeJob
from vodkit_transcoder.runner import JobRunner

pytestmark = pytest.mark.unit
POLICY = RetryPolicy(attempts=3, base_delay_s=1.0)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def queue(store: MetadataStore, clock: Clock) -> JobQueue:
    jobs = JobQueue(store.collection("transcode_jobs"), lease_s=60, policy=POLICY, clock=clock)
    assert await jobs.enqueue("v1", "originals/v1/source", "c1")
    return jobs


async def test_a_duplicate_event_enqueues_nothing(queue: JobQueue) -> None:
    assert not await queue.enqueue("v1", "originals/v1/source", "c1")


async def test_a_job_is_claimed_by_one_worker_only(queue: JobQueue) -> None:
    job = await queue.claim("a")
    assert job is not None
    assert (job.state, job.worker, job.attempts, job.crashes) == ("running", "a", 0, 0)  # claiming counts nothing
    assert await queue.claim("b") is None


async def test_a_dead_workers_job_is_taken_over_when_its_lease_expires(queue: JobQueue, clock: Clock) -> None:
    assert await queue.claim("a")
    clock.now += 59
    assert await queue.claim("b") is None
    clock.now += 2
    taken = await queue.claim("b")
    assert taken is not None
    assert (taken.worker, taken.attempts, taken.crashes) == ("b", 0, 1)  # a crash, not a failed attempt
    assert not await queue.renew("v1", "a")  # the old worker learns it has lost the job
    await queue.finish("v1", "a")
    assert (await queue.get("v1")) == taken  # and cannot finish it


async def test_renewing_keeps_a_long_job(queue: JobQueue, clock: Clock) -> None:
    assert await queue.claim("a")
    for _ in range(100):  # 100 minutes of transcoding, renewed every 20 s
        clock.now += 20
        assert await queue.renew("v1", "a")
        assert await queue.claim("b") is None


async def test_a_failed_attempt_is_retried_after_a_growing_delay_then_given_up(queue: JobQueue, clock: Clock) -> None:
    delays = []
    for attempt in (1, 2):
        assert await queue.claim("a")
        assert not await queue.fail("v1", "a", "ffmpeg killed", permanent=False)
        job = await queue.get("v1")
        assert job is not None
        assert (job.state, job.attempts) == ("queued", attempt)
        delays.append(job.not_before - clock.now)
        assert await queue.claim("a") is None  # not yet due
        clock.now = job.not_before
    assert delays == [1.0, 2.0]
    assert await queue.claim("a")
    assert await queue.fail("v1", "a", "ffmpeg killed", permanent=False)
    job = await queue.get("v1")
    assert job is not None
    assert (job.state, job.error) == ("failed", "ffmpeg killed")


async def test_a_permanent_failure_gives_up_at_once(queue: JobQueue) -> None:
    assert await queue.claim("a")
    assert await queue.fail("v1", "a", "not a video", permanent=True)
    assert (await queue.get("v1")).state == "failed"  # type: ignore[union-attr]


class FakeTranscode:
    def __init__(self, seconds: float, errors: list[Exception] | None = None) -> None:
        self.seconds, self.errors = seconds, list(errors or [])
        self.started: list[str] = []
        self.finished: list[str] = []
        self.given_up: list[str] = []

    async def work(self, job: TranscodeJob) -> None:
        self.started.append(job.worker)
        if self.errors:
            raise self.errors.pop(0)
        await asyncio.sleep(self.seconds)
        self.finished.append(job.worker)

    async def give_up(self, job: TranscodeJob, reason: str) -> None:
        self.given_up.append(reason)


def runner(queue: JobQueue, fake: FakeTranscode, lease_s: float) -> JobRunner:
    return JobRunner(queue, fake.work, fake.give_up, slots=1, lease_s=lease_s, poll_s=0.05)


async def test_a_job_longer_than_its_lease_runs_once_among_several_workers(store: MetadataStore) -> None:
    queue = JobQueue(store.collection("transcode_jobs"), lease_s=0.6, policy=POLICY)
    fake = FakeTranscode(seconds=2.5)
    workers = [runner(queue, fake, lease_s=0.6) for _ in range(3)]
    tasks = [asyncio.create_task(w.run()) for w in workers]
    await queue.enqueue("v1", "originals/v1/source", "c1")
    await eventually(lambda: len(fake.finished) == 1, timeout=20)
    await asyncio.sleep(1.0)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert len(fake.started) == 1
    assert (await queue.get("v1")).state == "done"  # type: ignore[union-attr]


class RenewFailsOnce(JobQueue):
    """The metadata store cannot be reached for one heartbeat."""

    failed = 0

    async def renew(self, video_id: str, worker: str) -> bool:
        if not self.failed:
            self.failed += 1
            raise OSError("the metadata store cannot be reached")
        return await super().renew(video_id, worker)


async def test_a_heartbeat_that_fails_once_beats_again_and_keeps_the_job(store: MetadataStore) -> None:
    """The failed renew ended the heartbeat unseen: the lease lapsed and a second worker encoded it again."""
    flaky = RenewFailsOnce(store.collection("transcode_jobs"), lease_s=0.9, policy=POLICY)
    queue = JobQueue(store.collection("transcode_jobs"), lease_s=0.9, policy=POLICY)
    fake = FakeTranscode(seconds=2.5)
    first = asyncio.create_task(runner(flaky, fake, lease_s=0.9).run())
    await queue.enqueue("v1", "originals/v1/source", "c1")
    await eventually(lambda: len(fake.started) == 1)
    second = asyncio.create_task(runner(queue, fake, lease_s=0.9).run())
    await eventually(lambda: len(fake.finished) == 1, timeout=20)
    for task in (first, second):
        task.cancel()
    await asyncio.gather(first, second, return_exceptions=True)
    assert flaky.failed == 1
    assert len(fake.started) == 1


class KilledQueue(JobQueue):
    """What a worker killed by SIGKILL (or for memory) does on its way out: nothing, not even give its job back."""

    async def release(self, video_id: str, worker: str) -> None:
        return


async def test_when_a_worker_dies_another_finishes_its_job(store: MetadataStore) -> None:
    queue = JobQueue(store.collection("transcode_jobs"), lease_s=0.6, policy=POLICY)
    dying = KilledQueue(store.collection("transcode_jobs"), lease_s=0.6, policy=POLICY)
    fake = FakeTranscode(seconds=1.0)
    first, second = runner(dying, fake, 0.6), runner(queue, fake, 0.6)
    first_task = asyncio.create_task(first.run())
    await queue.enqueue("v1", "originals/v1/source", "c1")
    await eventually(lambda: len(fake.started) == 1)
    first_task.cancel()  # the process dies: its run loop and its job stop, nothing is recorded
    await first.stop()
    second_task = asyncio.create_task(second.run())
    await eventually(lambda: len(fake.finished) == 1, timeout=20)
    second_task.cancel()
    await asyncio.gather(second_task, return_exceptions=True)
    assert fake.started == [first.worker, second.worker]
    assert fake.finished == [second.worker]
    job = await queue.get("v1")
    assert job is not None
    assert (job.attempts, job.crashes) == (0, 1)  # the dead worker's claim used no retry


@pytest.mark.parametrize(
    ("errors", "attempts", "given_up"),
    [
        ([OSError("storage down")], 2, 0),
        ([OSError("x"), OSError("y"), OSError("z")], 3, 1),
        ([UnsupportedMedia("not a video")], 1, 1),
    ],
)
async def test_failures_are_retried_with_backoff_then_reported_once(
    store: MetadataStore, errors: list[Exception], attempts: int, given_up: int
) -> None:
    queue = JobQueue(store.collection("transcode_jobs"), lease_s=5, policy=RetryPolicy(3, 0.05))
    fake = FakeTranscode(seconds=0, errors=errors)
    task = asyncio.create_task(runner(queue, fake, 5).run())
    await queue.enqueue("v1", "originals/v1/source", "c1")

    async def settled() -> bool:
        job = await queue.get("v1")
        return job is not None and job.state in ("done", "failed")

    await eventually(settled)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert len(fake.started) == attempts
    assert len(fake.given_up) == given_up


async def test_a_cancelled_job_stops_at_once_and_what_it_wrote_is_discarded(store: MetadataStore) -> None:
    """The video ended mid-encode: the runner stops the work now, records nothing, and discards its output."""
    queue = JobQueue(store.collection("transcode_jobs"), lease_s=30, policy=POLICY)
    fake = FakeTranscode(seconds=60)
    discarded: list[str] = []

    async def discard(job: TranscodeJob) -> None:
        discarded.append(job.video_id)

    worker = JobRunner(queue, fake.work, fake.give_up, slots=1, lease_s=30, poll_s=0.05, discard=discard)
    task = asyncio.create_task(worker.run())
    await queue.enqueue("v1", "originals/v1/source", "c1")
    await eventually(lambda: len(fake.started) == 1)
    assert (await queue.cancel("v1")).state == "cancelled"
    worker.cancel("v1")
    await eventually(lambda: discarded == ["v1"], timeout=5)  # long before the 10 s heartbeat
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert fake.finished == []
    assert fake.given_up == []
    assert (await queue.get("v1")).state == "cancelled"  # type: ignore[union-attr]


async def test_a_job_cancelled_elsewhere_stops_at_its_next_heartbeat(store: MetadataStore) -> None:
    queue = JobQueue(store.collection("transcode_jobs"), lease_s=0.6, policy=POLICY)
    fake = FakeTranscode(seconds=60)
    task = asyncio.create_task(runner(queue, fake, 0.6).run())
    await queue.enqueue("v1", "originals/v1/source", "c1")
    await eventually(lambda: len(fake.started) == 1)
    await queue.cancel("v1")  # another replica heard video.deleted

    async def stopped() -> bool:
        return not any(t.get_name().startswith("transcode") and not t.done() for t in asyncio.all_tasks())

    await eventually(stopped, timeout=5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert fake.finished == []


async def test_a_video_cancelled_before_its_job_never_gets_one(store: MetadataStore) -> None:
    queue = JobQueue(store.collection("transcode_jobs"), lease_s=30, policy=POLICY)
    await queue.cancel("v2")
    assert not await queue.enqueue("v2", "originals/v2/source", "c2")
    assert await queue.claim("a") is None


async def test_a_finished_job_is_not_cancelled(queue: JobQueue) -> None:
    assert await queue.claim("a")
    await queue.finish("v1", "a")
    assert (await queue.cancel("v1")).state == "done"


async def test_crashes_use_no_retry_and_a_job_that_kills_every_worker_fails(store: MetadataStore, clock: Clock) -> None:
    """Three kills then one storage error failed the video; now crashes are counted apart, and capped."""
    queue = JobQueue(store.collection("transcode_jobs"), lease_s=60, policy=POLICY, clock=clock, max_crashes=3)
    await queue.enqueue("v1", "originals/v1/source", "c1")
    for worker in ("a", "b"):
        assert await queue.claim(worker)
        clock.now += 61  # the worker is killed: its lease lapses
    job = await queue.claim("c")
    assert job is not None
    assert (job.attempts, job.crashes) == (0, 2)
    assert not await queue.fail("v1", "c", "storage hiccup", permanent=False)  # attempts left: 2 of 3
    clock.now += 10
    assert await queue.claim("d")
    clock.now += 61  # killed a third time: the cap, and it still runs
    assert await queue.claim("e")
    clock.now += 61  # a fourth: past the cap
    assert await queue.claim("f") is None
    job = await queue.get("v1")
    assert job is not None
    assert (job.state, job.crashes, job.announced) == ("failed", 4, False)
    assert job.error is not None
    assert "stopped 4 times" in job.error
    assert [j.video_id for j in await queue.unannounced()] == ["v1"]


async def test_a_job_killed_three_times_still_completes(store: MetadataStore, clock: Clock) -> None:
    """The issue's case: killed mid-encode 3 times on one job, it completes (it failed on the third)."""
    queue = JobQueue(store.collection("transcode_jobs"), lease_s=60, policy=POLICY, clock=clock, max_crashes=3)
    await queue.enqueue("v1", "originals/v1/source", "c1")
    for worker in ("a", "b", "c"):
        assert await queue.claim(worker)
        clock.now += 61
    job = await queue.claim("d")
    assert job is not None
    assert (job.attempts, job.crashes) == (0, 3)
    await queue.finish("v1", "d")
    done = await queue.get("v1")
    assert done is not None
    assert done.state == "done"


async def test_a_clean_stop_hands_the_job_back_at_once_uncounted(store: MetadataStore) -> None:
    queue = JobQueue(store.collection("transcode_jobs"), lease_s=60, policy=POLICY)
    fake = FakeTranscode(seconds=60)
    worker = runner(queue, fake, 60)
    task = asyncio.create_task(worker.run())
    await queue.enqueue("v1", "originals/v1/source", "c1")
    await eventually(lambda: len(fake.started) == 1)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await worker.stop()  # SIGTERM: it kept its lease for 58 s before
    job = await queue.get("v1")
    assert job is not None
    assert (job.state, job.attempts, job.crashes, job.worker) == ("queued", 0, 0, "")
    assert await queue.claim("another") is not None  # at once, not when a lease lapses


async def test_a_bus_outage_puts_the_job_off_and_an_unannounced_failure_is_announced_later(
    store: MetadataStore,
) -> None:
    """The bus down fails no job: the attempt is put off uncounted, and video.failed waits in the outbox."""
    queue = JobQueue(store.collection("transcode_jobs"), lease_s=5, policy=RetryPolicy(3, 0.05))
    bus_up = asyncio.Event()
    announced: list[str] = []
    calls: list[int] = []

    async def work(job: TranscodeJob) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise BusUnavailable("the broker cannot be reached")
        raise UnsupportedMedia("not a video")

    async def give_up(job: TranscodeJob, reason: str) -> None:
        if not bus_up.is_set():
            raise BusUnavailable("the broker cannot be reached")
        announced.append(reason)

    worker = JobRunner(queue, work, give_up, slots=1, lease_s=5, poll_s=0.05)
    task = asyncio.create_task(worker.run())
    await queue.enqueue("v1", "originals/v1/source", "c1")
    await eventually(lambda: len(calls) == 1)
    job = await queue.get("v1")
    assert job is not None
    assert (job.state, job.attempts) == ("queued", 0)  # put off, not failed
    await queue._c.update("v1", lambda d: {**d, "not_before": 0.0})  # skip the 15 s wait
    worker.wake()

    async def failed_unannounced() -> bool:
        found = await queue.get("v1")
        return found is not None and found.state == "failed" and not found.announced

    await eventually(failed_unannounced)
    assert announced == []
    bus_up.set()
    await eventually(lambda: announced == ["not a video"])
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert await queue.unannounced() == []


async def test_the_backlog_counts_jobs_waiting_for_a_worker_and_the_oldest_ones_age(
    store: MetadataStore, clock: Clock
) -> None:
    queue = JobQueue(store.collection("transcode_jobs"), lease_s=60, policy=POLICY, clock=clock)
    assert await queue.backlog() == Backlog(0, 0.0)
    for video in ("v1", "v2", "v3"):
        await queue.enqueue(video, f"originals/{video}/source", "c")
        clock.now += 10
    assert await queue.claim("a")  # v1 runs: not waiting
    assert await queue.backlog() == Backlog(2, 20.0)  # v2 queued 20 s ago, v3 10 s ago
    clock.now += 61  # v1's worker died: its job waits again, and it is the oldest
    assert await queue.backlog() == Backlog(3, 91.0)
    assert await queue.claim("b")
    await queue.finish("v1", "b")
    assert (await queue.backlog()).waiting == 2


async def test_the_backlog_is_exported_as_metrics_to_scale_on(store: MetadataStore, clock: Clock) -> None:
    queue = JobQueue(store.collection("transcode_jobs"), lease_s=60, policy=POLICY, clock=clock)
    await queue.enqueue("v1", "originals/v1/source", "c")
    clock.now += 42
    await export_backlog(queue)
    assert REGISTRY.get_sample_value("vodkit_transcode_jobs_waiting") == 1
    assert REGISTRY.get_sample_value("vodkit_transcode_oldest_waiting_seconds") == 42


async def test_only_the_worker_holding_a_job_records_its_stored_ladder(queue: JobQueue, clock: Clock) -> None:
    assert await queue.claim("a")
    envelopes = [{"type": "rendition.ready", "id": "e1"}]
    assert await queue.keep_stored("v1", "a", envelopes)
    assert not await queue.keep_stored("v1", "b", [])
    clock.now += 61
    taken = await queue.claim("b")
    assert taken is not None
    assert taken.stored == envelopes  # the next worker announces these instead of encoding again


async def test_a_failure_is_announced_once_while_the_outboxes_of_every_worker_poll(store: MetadataStore) -> None:
    """The failing worker announces; its own outbox and another worker's, polling while the bus confirms
    slowly, leave that failure alone (they once announced it again: one video.failed per outbox)."""
    queue = JobQueue(store.collection("transcode_jobs"), lease_s=5, policy=RetryPolicy(3, 0.05))
    announced: list[str] = []

    async def work(job: TranscodeJob) -> None:
        raise UnsupportedMedia("not a video")

    async def give_up(job: TranscodeJob, reason: str) -> None:
        await asyncio.sleep(0.5)  # a broker slow to confirm: several polls of every outbox meanwhile
        announced.append(job.video_id)

    workers = [JobRunner(queue, work, give_up, slots=1, lease_s=5, poll_s=0.02) for _ in range(2)]
    tasks = [asyncio.create_task(worker.run()) for worker in workers]
    await queue.enqueue("v1", "originals/v1/source", "c1")
    await eventually(lambda: announced != [])
    await asyncio.sleep(1.0)  # the polls after it
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert announced == ["v1"]
    assert await queue.unannounced() == []
