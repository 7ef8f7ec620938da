"""From an accepted batch to stored samples, before the 202.

`POST /api/playback-events` hands its samples to the `SampleWriter` and answers 202 once they are
stored: a 202 is never a batch a crash can lose. The writer's own task writes the batches that
came in while its last write ran all in one (a group commit), so a thousand players cost a few
writes a second, not a thousand. What waits is bounded (`VODKIT_ANALYTICS_QUEUE_SAMPLES`): when the
store falls that far behind, batches are shed with a 503 rather than held in memory; a write that
fails answers its batches 503 too, and the player sends them again.

The Prometheus figures (views, startup times, stalls, watch time) are counted when a batch is accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

from prometheus_client import Counter, Histogram

from vodkit_gateway.analytics_schemas import BufferEvent, ErrorEvent, LevelEvent, PlaybackBatch, StallEvent, ViewEvent
from vodkit_shared.analytics import STARTUP_BUCKETS, AnalyticsStore, Sample

log = logging.getLogger(__name__)

VIEWS = Counter("vodkit_playback_views_total", "Playback sessions that showed a first frame, as players reported")
STARTUP = Histogram(
    "vodkit_playback_startup_duration_seconds",
    "Play request to first frame, as players reported",
    buckets=STARTUP_BUCKETS,
)
STALLS = Histogram(
    "vodkit_playback_stall_duration_seconds",
    "Rebufferings players reported, by how long each lasted",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
WATCHED = Counter("vodkit_playback_watched_seconds_total", "Seconds of playback players reported")
BATCHES = Counter(
    "vodkit_playback_batches_total", "Player report batches: accepted, or shed (503) for a full queue", ["outcome"]
)
STORE_FAILURES = Counter("vodkit_playback_store_failures_total", "Writes of player reports the store refused")
MAX_WRITE = 5000  # samples in one write


class QueueFull(Exception):
    """The store is too far behind: the batch is not taken."""


class StoreRefused(Exception):
    """The write that held the batch failed: nothing of it is acknowledged."""


@dataclass
class _Waiting:
    samples: list[Sample]
    stored: asyncio.Future[None]


class SampleWriter:
    """Stores each batch before its request is answered, many batches in one write (a group commit):
    the batches that come in while a write runs go together in the next one."""

    def __init__(self, store: AnalyticsStore, capacity: int) -> None:
        self._store = store
        self._capacity = capacity
        self._waiting: list[_Waiting] = []
        self._wake = asyncio.Event()
        self._writing = asyncio.Lock()  # one write at a time: each takes the head of the line

    @property
    def queued(self) -> int:
        return sum(len(w.samples) for w in self._waiting)

    async def write(self, samples: list[Sample]) -> None:
        """Return once the samples are stored; QueueFull if too many wait, StoreRefused if the write failed."""
        if self.queued + len(samples) > self._capacity:
            BATCHES.labels("shed").inc()
            raise QueueFull()
        waiting = _Waiting(samples, asyncio.get_running_loop().create_future())
        self._waiting.append(waiting)
        self._wake.set()
        await asyncio.shield(waiting.stored)  # a client that leaves does not take its batch out of a write
        BATCHES.labels("accepted").inc()

    async def write_waiting(self) -> None:
        """Store what waits, up to `MAX_WRITE` samples a write, and tell each batch how its write went."""
        async with self._writing:
            while self._waiting:
                taken: list[_Waiting] = []
                size = 0
                while self._waiting and (not taken or size + len(self._waiting[0].samples) <= MAX_WRITE):
                    taken.append(self._waiting.pop(0))
                    size += len(taken[-1].samples)
                try:
                    await self._store.record([sample for w in taken for sample in w.samples])
                except Exception:
                    STORE_FAILURES.inc()
                    log.exception("storing playback samples failed; their requests are answered 503")
                    _settle(taken, StoreRefused())
                else:
                    _settle(taken, None)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Write as batches come, inside the block; at its end, what still waits."""

        async def loop() -> None:
            while True:
                await self._wake.wait()
                self._wake.clear()
                await self.write_waiting()

        task = asyncio.create_task(loop(), name="analytics writer")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await self.write_waiting()


def _settle(taken: list[_Waiting], error: Exception | None) -> None:
    for waiting in taken:
        if not waiting.stored.done():
            if error is None:
                waiting.stored.set_result(None)
            else:
                waiting.stored.set_exception(error)


def samples_of(batch: PlaybackBatch, viewer: str) -> list[Sample]:
    """The batch's events as samples, each with an id made of session, batch number and index."""
    return [_sample(batch, viewer, index, event) for index, event in enumerate(batch.events)]


def _sample(
    batch: PlaybackBatch,
    viewer: str,
    index: int,
    event: ViewEvent | BufferEvent | LevelEvent | StallEvent | ErrorEvent,
) -> Sample:
    base = Sample(
        sample_id=f"{batch.session_id}:{batch.seq}:{index}",
        video_id=batch.video_id,
        session_id=batch.session_id,
        viewer=viewer,
        kind=event.type,
        at=event.at,
    )
    if isinstance(event, ViewEvent):
        return replace(base, startup=event.startup, first_segment=event.first_segment)
    if isinstance(event, BufferEvent):
        return replace(
            base,
            position=event.position,
            buffer_health=event.buffer_health,
            quality=event.quality,
            bitrate=event.bitrate,
            height=event.height,
            watch=event.watch,
            dropped_frames=event.dropped_frames,
            decoded_frames=event.decoded_frames,
        )
    if isinstance(event, LevelEvent):
        return replace(base, quality=event.quality, bitrate=event.bitrate, height=event.height, switch=event.switch)
    if isinstance(event, StallEvent):
        return replace(base, position=event.position, stall=event.duration)
    return replace(base, fatal=event.fatal, error=event.details)


def count(samples: list[Sample]) -> None:
    """The Prometheus figures of accepted samples."""
    for sample in samples:
        if sample.kind == "view":
            VIEWS.inc()
            if sample.startup is not None:
                STARTUP.observe(sample.startup)
        elif sample.kind == "stall" and sample.stall is not None:
            STALLS.observe(sample.stall)
        elif sample.kind == "buffer" and sample.watch:
            WATCHED.inc(sample.watch)


async def sweep(store: AnalyticsStore, retention_s: float) -> int:
    """Roll up the recent days, then expire the samples past the retention (rolled up first)."""
    now = time.time()
    await store.roll_up_recent(now)
    return await store.expire(retention_s, now)
