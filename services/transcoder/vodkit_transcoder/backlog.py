"""The transcode backlog as metrics, for autoscaling (KEDA or an HPA on an external metric).

The bus hands a job over at once (`video.assembled` is acked when the job is stored), so RabbitMQ's
queue depth says nothing of the work waiting: the job queue in the metadata store does. Every
transcoder exports the same figures (one shared store): scale on their `max`.
"""

from __future__ import annotations

from prometheus_client import Gauge

from vodkit_transcoder.jobs import JobQueue

JOBS_WAITING = Gauge("vodkit_transcode_jobs_waiting", "Transcode jobs waiting for a worker (queued or lease lapsed)")
OLDEST_WAITING = Gauge("vodkit_transcode_oldest_waiting_seconds", "Age of the oldest transcode job waiting")


async def export_backlog(queue: JobQueue) -> None:
    """Set the backlog gauges from the job queue (run every poll by the app: `running_every`); if the
    store does not answer, they keep their last value."""
    backlog = await queue.backlog()
    JOBS_WAITING.set(backlog.waiting)
    OLDEST_WAITING.set(backlog.oldest_waiting_s)
