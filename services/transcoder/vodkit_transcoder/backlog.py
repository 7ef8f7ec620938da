"""The transcode backlog as metrics, for autoscaling (KEDA or an HPA on an external metric).

The bus hands a job over at once (`video.assembled` is acked when the job is stored), so RabbitMQ's
queue depth says nothing of the work waiting: the job queue in the metadata store does. Every
transcoder exports the same figures (one shared store): scale on their `max`.
"""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import Gauge

from vodkit_transcoder.jobs import JobQueue

log = logging.getLogger(__name__)

JOBS_WAITING = Gauge("vodkit_transcode_jobs_waiting", "Transcode jobs waiting for a worker (queued or lease lapsed)")
OLDEST_WAITING = Gauge("vodkit_transcode_oldest_waiting_seconds", "Age of the oldest transcode job waiting")


async def export_backlog(queue: JobQueue, every_s: float) -> None:
    """Refresh the backlog gauges every `every_s` seconds, for ever (cancel to stop)."""
    while True:
        try:
            backlog = await queue.backlog()
        except Exception:  # noqa: BLE001 - the store may be back next time; the gauges keep their last value
            log.warning("backlog not measured: the metadata store did not answer")
        else:
            JOBS_WAITING.set(backlog.waiting)
            OLDEST_WAITING.set(backlog.oldest_waiting_s)
        await asyncio.sleep(every_s)
