"""Durable transcode jobs with leases, so a transcode may outlive any message-broker timeout.

The `video.assembled` handler only enqueues a job and acks (RabbitMQ closes a channel whose
delivery stays unacked past `consumer_timeout`, 30 minutes by default, and redelivers it:
holding the delivery for a long transcode would run it again and again). Workers claim
jobs here with a compare-and-set, hold them by a lease they renew while ffmpeg runs, and
record the outcome. A worker that dies stops renewing; once its lease expires another worker
claims the job. Retries with growing delay are counted in the job itself.

Two budgets, counted apart: `attempts` that ended in an error (3, the seed's retry policy), and
`crashes`, claims whose worker died under them (a source that kills its worker every time, say by
running it out of memory, ends `failed` at its crash past `max_crashes` rather than looping for
ever: a job killed `max_crashes` times still runs once more). A worker that stops cleanly gives its
job back at once (`release`) and a bus outage puts it off (`postpone`); neither counts against
anything. Once a job's ladder is stored, the job keeps the envelopes that announce it
(`keep_stored`), so a worker lost after that point costs no second encode. A failed job's
`video.failed` is kept as `announced: false` until the bus has it, and announced again from here
until then (an outbox); one worker at a time holds an announcement (`announcing_until`), so a
failure is announced once, not once by its worker and again by every outbox that sees it meanwhile.
An admin's retry of a failed video (`retry`) queues its job again, as a run of its own.

A long video's job cuts its ladder into chunk jobs (`enqueue_chunks`, see chunks.py), kept here
beside it under `{video}/run-R/chunk-NNN`: claimed, leased, retried and counted like any job (the
methods that take a `key` take either), handed out with their video's age, cancelled with it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel

from vodkit_shared.bus import RetryPolicy
from vodkit_shared.events import Envelope, run_of, stable_event_id
from vodkit_shared.metadata import Collection, Document, DuplicateKey
from vodkit_shared.watermarks import Placement

State = Literal["queued", "running", "done", "failed", "cancelled"]
RetryOutcome = Literal["queued", "already", "no-job"]
Clock = Callable[[], float]


class Chunk(BaseModel):
    """One part of a long source's ladder (`chunks.py`): the source's [start_s, end_s), whole segments."""

    index: int
    count: int
    start_s: float
    end_s: float | None  # None: to the source's end
    run: int  # the video's run (`events.run_of`): an admin's retry gets chunk jobs of its own
    # The watermark the video's job read when it planned the run (its PNG stored beside the run's parts,
    # `chunks.watermark_key`): every chunk burns in that one, whatever the record says by then. None: none.
    watermark: Placement | None = None
    watermark_fixed: bool = False  # False: planned before the run fixed it (such a chunk reads the record)


def chunk_key(video_id: str, chunk: Chunk) -> str:
    return f"{video_id}/run-{chunk.run}/chunk-{chunk.index:03d}"


class TranscodeJob(BaseModel):
    video_id: str
    source_key: str
    correlation_id: str
    state: State = "queued"
    attempts: int = 0  # attempts that ended in an error
    crashes: int = 0  # claims whose worker died before it could say how the attempt went
    announced: bool = True  # False while a failed job's video.failed has not reached the bus
    announcing_until: float = 0.0  # while a worker announces that failure: no other worker does it too
    not_before: float = 0.0
    lease_until: float = 0.0
    worker: str = ""
    error: str | None = None
    created_at: float = 0.0
    stored: list[dict[str, Any]] = []  # once the ladder is stored: the envelopes that announce it (a checkpoint)
    chunk: Chunk | None = None  # a part of a video's ladder; None: the video's own job

    @property
    def key(self) -> str:
        """The job's key in the queue: the video id for a video's job, with its part for a chunk's."""
        return self.video_id if self.chunk is None else chunk_key(self.video_id, self.chunk)


@dataclass(frozen=True)
class Backlog:
    """Jobs that want a worker now or later (queued, or running under a lapsed lease), and the oldest's age."""

    waiting: int
    oldest_waiting_s: float


class JobQueue:
    def __init__(
        self,
        collection: Collection,
        lease_s: float,
        policy: RetryPolicy,
        clock: Clock = time.time,
        max_crashes: int = 3,
    ) -> None:
        self._c = collection
        self._lease_s = lease_s
        self._policy = policy
        self._clock = clock
        self._max_crashes = max_crashes

    async def enqueue(self, video_id: str, source_key: str, correlation_id: str) -> bool:
        """Record a job; False if this video has one already (a redelivered or duplicate event)."""
        job = TranscodeJob(
            video_id=video_id, source_key=source_key, correlation_id=correlation_id, created_at=self._clock()
        )
        try:
            await self._c.insert(video_id, job.model_dump())
        except DuplicateKey:
            return False
        return True

    async def get(self, key: str) -> TranscodeJob | None:
        doc = await self._c.get(key)
        return TranscodeJob.model_validate(doc) if doc else None

    async def claim(self, worker: str) -> TranscodeJob | None:
        """Take the oldest job that is due: queued, or running under an expired lease."""
        now = self._clock()
        for job in sorted(await self._unfinished(), key=lambda j: (j.created_at, j.key)):  # a video's parts with it
            if self._claimable(job, now) and (claimed := await self._try_claim(job.key, worker)):
                return claimed
        return None

    async def enqueue_chunks(self, parent: TranscodeJob, chunks: list[Chunk]) -> None:
        """Record a job for each part of the video's ladder (those already recorded stay as they are).

        They share the video's age, so workers take them before any later video's work."""
        for chunk in chunks:
            job = TranscodeJob(
                video_id=parent.video_id,
                source_key=parent.source_key,
                correlation_id=parent.correlation_id,
                created_at=parent.created_at,
                chunk=chunk,
            )
            with contextlib.suppress(DuplicateKey):
                await self._c.insert(job.key, job.model_dump())

    async def chunks_of(self, parent: TranscodeJob) -> list[TranscodeJob]:
        """The video's chunk jobs of the parent's run, in order."""
        run = run_of(parent.correlation_id)
        jobs = [TranscodeJob.model_validate(doc) for doc in await self._c.find("video_id", parent.video_id)]
        return sorted((j for j in jobs if j.chunk is not None and j.chunk.run == run), key=lambda j: j.key)

    async def claim_chunk_of(self, parent: TranscodeJob, worker: str) -> TranscodeJob | None:
        """Take one of the video's chunk jobs that is due, if any."""
        now = self._clock()
        for job in await self.chunks_of(parent):
            if self._claimable(job, now) and (claimed := await self._try_claim(job.key, worker)):
                return claimed
        return None

    async def _unfinished(self) -> list[TranscodeJob]:
        """Jobs queued or running: those a worker may have to take."""
        return [
            TranscodeJob.model_validate(d)
            for state in ("queued", "running")
            for d in await self._c.find("state", state)
        ]

    def _claimable(self, job: TranscodeJob, now: float) -> bool:
        if job.state == "queued":
            return job.not_before <= now
        return job.state == "running" and job.lease_until < now

    async def _try_claim(self, key: str, worker: str) -> TranscodeJob | None:
        now = self._clock()

        def take(doc: Document) -> Document | None:
            job = TranscodeJob.model_validate(doc)
            if not self._claimable(job, now):
                return None  # another worker was quicker
            if job.state == "running":  # its worker stopped renewing: it died in the middle
                crashes = job.crashes + 1
                if crashes > self._max_crashes:
                    failed = {"state": "failed", "worker": "", "announced": False, "error": _crashed(crashes)}
                    return {**doc, **failed, "crashes": crashes}
                doc = {**doc, "crashes": crashes}
            return {**doc, "state": "running", "worker": worker, "lease_until": now + self._lease_s}

        doc = await self._c.update(key, take)
        job = TranscodeJob.model_validate(doc) if doc else None
        return job if job and job.state == "running" and job.worker == worker and job.lease_until > now else None

    async def backlog(self) -> Backlog:
        """What autoscaling reads: the bus's queues stay near empty, the backlog is here."""
        now = self._clock()
        waiting = [job for job in await self._unfinished() if job.state == "queued" or job.lease_until < now]
        oldest = min((job.created_at for job in waiting), default=now)
        return Backlog(len(waiting), max(0.0, now - oldest))

    async def states(self) -> dict[str, int]:
        """How many jobs wait for a worker (as `backlog` counts them), run under a live lease, or failed."""
        now, unfinished = self._clock(), await self._unfinished()
        running = sum(1 for job in unfinished if job.state == "running" and job.lease_until >= now)
        failed = len(await self._c.find("state", "failed"))
        return {"waiting": len(unfinished) - running, "running": running, "failed": failed}

    async def renew(self, key: str, worker: str) -> bool:
        """Extend the lease; False if the job is no longer this worker's."""
        until = self._clock() + self._lease_s

        def extend(doc: Document) -> Document | None:
            return {**doc, "lease_until": until} if self._holds(doc, worker) else None

        doc = await self._c.update(key, extend)
        return doc is not None and self._holds(doc, worker) and doc["lease_until"] == until

    async def keep_stored(self, video_id: str, worker: str, envelopes: list[dict[str, Any]]) -> bool:
        """Record that the ladder is stored, with what announces it: a worker that takes the job over
        after this announces them rather than encoding again. False if the job is no longer this worker's."""
        doc = await self._c.update(video_id, lambda d: {**d, "stored": envelopes} if self._holds(d, worker) else None)
        return doc is not None and self._holds(doc, worker)

    async def finish(self, key: str, worker: str) -> None:
        await self._c.update(key, lambda d: {**d, "state": "done", "error": None} if self._holds(d, worker) else None)

    async def fail(self, key: str, worker: str, error: str, permanent: bool) -> bool:
        """Record a failed attempt; True if the job has given up (permanent, or out of attempts)."""
        gave_up = False
        until = self._clock() + self._lease_s

        def record(doc: Document) -> Document | None:
            nonlocal gave_up
            if not self._holds(doc, worker):
                return None
            attempts = doc["attempts"] + 1
            gave_up = permanent or attempts >= self._policy.attempts
            if gave_up:  # this worker announces it now; the outbox only if it cannot
                failed = {"state": "failed", "error": error, "announced": False, "announcing_until": until}
                return {**doc, **failed, "attempts": attempts}
            delay = self._policy.delay_before(attempts + 1)
            queued = {"state": "queued", "worker": "", "not_before": self._clock() + delay}
            return {**doc, **queued, "attempts": attempts, "error": error}

        await self._c.update(key, record)
        return gave_up

    async def release(self, key: str, worker: str) -> None:
        """The worker stops cleanly: the job is due again now, for any worker, and nothing is counted."""
        await self._requeue(key, worker, 0.0)

    async def postpone(self, key: str, worker: str, delay_s: float) -> None:
        """The attempt could not announce its work (the bus is down): try again later, nothing counted."""
        await self._requeue(key, worker, delay_s)

    async def _requeue(self, key: str, worker: str, delay_s: float) -> None:
        due = self._clock() + delay_s
        await self._c.update(
            key,
            lambda d: (
                {**d, "state": "queued", "worker": "", "lease_until": 0.0, "not_before": due}
                if self._holds(d, worker)
                else None
            ),
        )

    async def unannounced(self) -> list[TranscodeJob]:
        """Failed jobs whose video.failed has not reached the bus yet, and that no worker is announcing."""
        now = self._clock()
        jobs = [TranscodeJob.model_validate(doc) for doc in await self._c.find("announced", False)]
        return [job for job in jobs if job.announcing_until < now]

    async def take_announcement(self, key: str) -> bool:
        """Announce the job's failure from this worker; False if it is announced, or another worker is at it."""
        now = self._clock()
        until = now + self._lease_s

        def take(doc: Document) -> Document | None:
            free = not doc.get("announced", True) and doc.get("announcing_until", 0.0) < now
            return {**doc, "announcing_until": until} if free else None

        doc = await self._c.update(key, take)
        return doc is not None and doc.get("announcing_until") == until

    async def give_back_announcement(self, key: str) -> None:
        """The bus did not take the failure: the outbox (any worker's) announces it later."""
        await self._c.update(key, lambda d: {**d, "announcing_until": 0.0} if not d.get("announced", True) else None)

    async def mark_announced(self, key: str) -> None:
        await self._c.update(key, lambda d: {**d, "announced": True} if not d.get("announced", True) else None)

    async def cancel(self, video_id: str) -> TranscodeJob:
        """The video ended: a queued or running job stops (its worker sees it at its next heartbeat),
        and a video with no job yet never gets one (the cancelled job turns a late enqueue away).

        Returns the job as it is now; a job already done or failed stays as it was."""
        cancelled = TranscodeJob(video_id=video_id, source_key="", correlation_id="", state="cancelled")
        try:
            await self._c.insert(video_id, {**cancelled.model_dump(), "created_at": self._clock()})
            return cancelled
        except DuplicateKey:
            pass

        def stop(doc: Document) -> Document | None:
            return {**doc, "state": "cancelled", "worker": ""} if doc["state"] in ("queued", "running") else None

        doc = await self._c.update(video_id, stop)  # first: a job that sees its chunks cancelled is cancelled
        for part in await self._c.find("video_id", video_id):  # its chunk jobs, of every run
            if part.get("chunk") is not None:
                await self._c.update(TranscodeJob.model_validate(part).key, stop)
        return TranscodeJob.model_validate(doc) if doc else cancelled

    async def retry(self, video_id: str, correlation_id: str) -> RetryOutcome:
        """An admin's retry of the failed video, as the run `correlation_id` names: a job that failed or
        was cancelled is queued afresh (its budgets full again); a done one (packaging failed after it)
        is queued to announce its stored ladder again, under the new run. Nothing for a job already
        on that run or a later one."""
        run = run_of(correlation_id)
        now = self._clock()
        outcome: RetryOutcome = "no-job"

        def requeue(doc: Document) -> Document | None:
            nonlocal outcome
            job = TranscodeJob.model_validate(doc)
            if run <= run_of(job.correlation_id) or job.state in ("queued", "running"):
                outcome = "already"
                return None
            outcome = "queued"
            again = TranscodeJob(
                video_id=video_id, source_key=job.source_key, correlation_id=correlation_id, created_at=now
            )
            if job.state == "done" and job.stored:
                again.stored = [
                    _rerun(Envelope.model_validate(d), correlation_id).model_dump(mode="json") for d in job.stored
                ]
            return again.model_dump()

        await self._c.update(video_id, requeue)
        return outcome

    @staticmethod
    def _holds(doc: Document, worker: str) -> bool:
        return bool(doc["state"] == "running" and doc["worker"] == worker)


def _rerun(envelope: Envelope, correlation_id: str) -> Envelope:
    """The same announcement for another run: new id (fixed by the run), now, the run's correlation id."""
    event_id = stable_event_id(envelope.type, envelope.video_id, correlation_id, str(envelope.id))
    return envelope.model_copy(
        update={"id": event_id, "occurred_at": datetime.now(UTC), "correlation_id": correlation_id}
    )


def _crashed(times: int) -> str:
    return f"the transcoder stopped {times} times while encoding this video (killed, perhaps out of memory): giving up"
