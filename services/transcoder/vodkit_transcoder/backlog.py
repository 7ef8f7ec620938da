"""The transcode backlog as metrics, for autoscaling (KEDA or an HPA on an external metric) and alerts.

The bus hands a job over at once (`video.assembled` is acked when the job is stored), so RabbitMQ's
queue depth says nothing of the work waiting: the job queue in the metadata store does. Every
transcoder exports the same figures (one shared store): scale on their `max`. Each also exports the
room left on its own scratch disk, which a full ladder of a long source can fill.
"""

from __future__ import annotations

from pathlib import Path

from prometheus_client import Gauge

from vodkit_shared.metrics import export_scratch_space
from vodkit_transcoder.jobs import JobQueue
from vodkit_transcoder.worker import SCRATCH_PREFIX

JOBS_WAITING = Gauge("vodkit_transcode_jobs_waiting", "Transcode jobs waiting for a worker (queued or lease lapsed)")
OLDEST_WAITING = Gauge("vodkit_transcode_oldest_waiting_seconds", "Age of the oldest transcode job waiting")
JOBS = Gauge("vodkit_transcode_jobs", "Transcode jobs in the queue, by state (waiting, running, failed)", ["state"])


async def export_backlog(queue: JobQueue, scratch: Path | None = None, service: str = "transcoder") -> None:
    """Set the backlog and scratch gauges (run every poll by the app: `running_every`); if the store
    does not answer, the backlog gauges keep their last value."""
    await export_scratch_space(service, scratch, SCRATCH_PREFIX)
    backlog = await queue.backlog()
    JOBS_WAITING.set(backlog.waiting)
    OLDEST_WAITING.set(backlog.oldest_waiting_s)
    for state, count in (await queue.states()).items():
        JOBS.labels(state).set(count)
