"""Runs claimed transcode jobs: a fixed number of slots, a heartbeat per job, retries, give-up.

If a heartbeat finds the job is no longer ours (our lease lapsed, say after a long pause,
and another worker took it), the running transcode is cancelled: a job never runs twice at once.
A job cancelled because its video ended (deleted or failed) stops the same way, at once if it
runs here, and what it wrote is discarded once it has stopped writing.

What a job's outcome depends on: a refusal of the source (`TranscodeRefused`) fails it at once; the bus
or the store being unreachable (`BusUnavailable`, `StorageUnavailable`, once the job has waited out what
it could: `outages.outlasting`) is not the job's failure, so it is put off for longer than a reconnect,
uncounted; a clean stop hands it back at once; anything else is a failed attempt. A failed job's
`video.failed` that the bus did not take is announced again from the queue's outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from prometheus_client import Counter, Histogram

from vodkit_shared import log_context
from vodkit_shared.bus import BusUnavailable
from vodkit_shared.storage import StorageUnavailable
from vodkit_transcoder.errors import TranscodeRefused
from vodkit_transcoder.jobs import JobQueue, TranscodeJob

log = logging.getLogger(__name__)

Work = Callable[[TranscodeJob], Coroutine[Any, Any, None]]
GiveUp = Callable[[TranscodeJob, str], Coroutine[Any, Any, None]]
Discard = Callable[[TranscodeJob], Coroutine[Any, Any, None]]
PUT_OFF_S = 15.0  # longer than the bus adapter's reconnect (5 s): the retry finds it back

ATTEMPT_SECONDS = Histogram(
    "vodkit_transcode_job_duration_seconds",
    "One attempt at a transcode job, from its claim to its outcome (done, retry, failed, put_off, lost)",
    ["outcome"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400),
)
JOBS_ENDED = Counter("vodkit_transcode_jobs_finished_total", "Transcode jobs that ended, by outcome", ["outcome"])
for _outcome in ("done", "failed"):  # exported at 0 from the start, so rate() sees the first one
    JOBS_ENDED.labels(_outcome)
JOB_ATTEMPTS = Histogram(
    "vodkit_transcode_job_attempts", "Attempts a transcode job took, when it ended", buckets=(1, 2, 3, 4, 5, 7, 10)
)


def _attempted(started: float, outcome: str) -> None:
    ATTEMPT_SECONDS.labels(outcome).observe(time.monotonic() - started)


def _ended(outcome: str, attempts: int) -> None:
    JOBS_ENDED.labels(outcome).inc()
    JOB_ATTEMPTS.observe(attempts)


class JobRunner:
    def __init__(
        self,
        queue: JobQueue,
        work: Work,
        give_up: GiveUp,
        *,
        slots: int,
        lease_s: float,
        poll_s: float,
        discard: Discard | None = None,
    ) -> None:
        self.worker = f"transcoder-{uuid.uuid4().hex[:8]}"
        self._queue, self._work, self._give_up, self._discard = queue, work, give_up, discard
        self._lost: dict[str, asyncio.Event] = {}  # job key → "stop it", for the jobs running here
        self._slots = asyncio.Semaphore(slots)
        self._heartbeat_s = lease_s / 3
        self._poll_s = poll_s
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        """A job was enqueued: look now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            await self._announce_outbox()
            await self._slots.acquire()
            job = await self._claim()
            if job is None:
                self._slots.release()
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll_s)
                continue
            task = asyncio.create_task(self._run_one(job), name=f"transcode {job.key}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _claim(self) -> TranscodeJob | None:
        try:
            return await self._queue.claim(self.worker)
        except Exception:
            log.exception("claiming a job failed")  # the metadata store may be back at the next poll
            return None

    async def _run_one(self, job: TranscodeJob) -> None:
        try:
            # a job runs outside any event handler: its lines name it here (an attempt is its unit of work)
            with log_context.binding(
                requestId=uuid.uuid4().hex, videoId=job.video_id, correlationId=job.correlation_id or job.video_id
            ):
                await self.attempt(job)
        finally:
            self._slots.release()
            self._wake.set()  # a retry may be due soon; look again

    def cancel(self, video_id: str) -> None:
        """Stop the video's jobs (its own, its chunks') that run here (the caller has cancelled them in the queue)."""
        for key, lost in list(self._lost.items()):
            if key == video_id or key.startswith(f"{video_id}/"):
                lost.set()

    async def attempt(self, job: TranscodeJob) -> None:
        """Run one claimed job to its outcome, under its heartbeat. A video's job runs its own chunk jobs
        through here too (`chunks.py`), inside its slot."""
        lost = self._lost[job.key] = asyncio.Event()
        started = time.monotonic()
        work = asyncio.create_task(self._work(job))
        heartbeat = asyncio.create_task(self._heartbeat(job, work, lost))
        stopper = asyncio.create_task(self._stop_when(lost, work))
        try:
            await work
        except asyncio.CancelledError:
            if not lost.is_set():  # the runner is stopping: another worker may take the job now
                await self._queue.release(job.key, self.worker)
                raise
            await self._after_losing(job)
            _attempted(started, "lost")
            if (task := asyncio.current_task()) is not None and task.cancelling():
                raise  # the caller is stopped too (a video's job running its own chunk): it stops as well
            return
        except (BusUnavailable, StorageUnavailable) as error:
            log.warning("bus or store down: job put off", extra={"videoId": job.video_id, "error": str(error)})
            await self._queue.postpone(job.key, self.worker, PUT_OFF_S)
            _attempted(started, "put_off")
            return
        except Exception as error:  # noqa: BLE001 - every failure is recorded on the job
            gave_up = await self._record_failure(job, error)
            _attempted(started, "failed" if gave_up else "retry")
            return
        finally:
            heartbeat.cancel()
            stopper.cancel()
            self._lost.pop(job.key, None)
        await self._queue.finish(job.key, self.worker)
        _attempted(started, "done")
        if job.chunk is None:  # a video's chunks are parts of its job, not jobs of their own
            _ended("done", job.attempts + 1)

    @staticmethod
    async def _stop_when(lost: asyncio.Event, work: asyncio.Task[None]) -> None:
        await lost.wait()
        work.cancel()

    async def _after_losing(self, job: TranscodeJob) -> None:
        current = await self._queue.get(job.key)
        if current is not None and current.state == "cancelled":
            log.info("job cancelled: its video ended", extra={"videoId": job.video_id})
            if self._discard is not None:
                await self._discard(job)  # what it wrote before it stopped
            return
        log.warning("job lost its lease and was stopped", extra={"videoId": job.video_id})

    async def _heartbeat(self, job: TranscodeJob, work: asyncio.Task[None], lost: asyncio.Event) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_s)
            try:
                held = await self._queue.renew(job.key, self.worker)
            except Exception as error:  # noqa: BLE001 - the store may be back at the next beat, within the lease
                log.warning("lease not renewed", extra={"videoId": job.video_id, "error": str(error)})
                continue
            if not held:
                lost.set()
                return

    async def _record_failure(self, job: TranscodeJob, error: Exception) -> bool:
        """Record the failed attempt; True if the job gave up."""
        permanent = isinstance(error, TranscodeRefused)
        reason = (str(error) if permanent else f"transcoder failed: {error}")[:1000]
        log.warning("job attempt failed", extra={"videoId": job.video_id, "attempt": job.attempts + 1, "error": reason})
        if not await self._queue.fail(job.key, self.worker, reason, permanent):
            return False
        if job.chunk is None:
            _ended("failed", job.attempts + 1)
        await self._announce_failure(await self._queue.get(job.key) or job, reason)  # as it ended: its counts
        return True

    async def _announce_failure(self, job: TranscodeJob, reason: str) -> None:
        """Publish video.failed; the caller holds the announcement (`fail` or `take_announcement` gave it)."""
        try:
            await self._give_up(job, reason)
        except BusUnavailable:
            log.warning("video.failed not announced yet: kept, announced later", extra={"videoId": job.video_id})
            await self._queue.give_back_announcement(job.key)
            return
        await self._queue.mark_announced(job.key)

    async def _announce_outbox(self) -> None:
        """Announce the failures the bus did not take (and a job that crashed its last worker once too often)."""
        try:
            for job in await self._queue.unannounced():
                if await self._queue.take_announcement(job.key):
                    await self._announce_failure(job, job.error or "transcoder failed")
        except Exception:
            log.exception("announcing failed jobs failed; trying again next time")

    async def stop(self) -> None:
        """Stop taking jobs and cancel those running; their leases lapse and another worker resumes them."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
