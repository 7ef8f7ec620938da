"""Metrics every service may export, and where `/metrics` is served.

One Prometheus registry per process: in `vodkit up` the six services share it, so only one of their
apps serves it (the gateway's public port) and the others answer 404 (`withhold_metrics`); scraping
every port would count everything six times. docs/metrics.md lists every metric name.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from pathlib import Path

from aiohttp import web
from prometheus_client import Gauge

METRICS_SERVED = web.AppKey("metrics_served", bool)

SCRATCH_FREE = Gauge("vodkit_scratch_free_bytes", "Free bytes on the disk that holds the scratch space", ["service"])
SCRATCH_SIZE = Gauge("vodkit_scratch_size_bytes", "Size in bytes of the disk that holds the scratch space", ["service"])
# On Kubernetes the scratch space is an emptyDir with a sizeLimit, which the disk's figures do not show:
# the kubelet evicts the pod past it, so what the service's own directories hold is exported too.
SCRATCH_USED = Gauge("vodkit_scratch_used_bytes", "Bytes in the service's scratch directories", ["service"])


def withhold_metrics(app: web.Application) -> None:
    """This app answers 404 on /metrics: another app of the process serves the shared registry."""
    app[METRICS_SERVED] = False


def serves_metrics(app: web.Application) -> bool:
    return app.get(METRICS_SERVED, True)


async def export_scratch_space(service: str, parent: Path | None, prefix: str) -> None:
    """Set the scratch gauges: the disk that holds `parent` (the system's temporary directory by default),
    and the bytes in the directories `prefix*` under it (`vodkit_shared.scratch.scratch_dir`'s)."""
    where = Path(parent or tempfile.gettempdir())
    usage, used = await asyncio.to_thread(lambda: (shutil.disk_usage(where), _bytes_under(where, prefix)))
    SCRATCH_FREE.labels(service).set(usage.free)
    SCRATCH_SIZE.labels(service).set(usage.total)
    SCRATCH_USED.labels(service).set(used)


def _bytes_under(parent: Path, prefix: str) -> int:
    total = 0
    for directory in parent.glob(f"{prefix}*"):
        for path in directory.rglob("*"):
            with contextlib.suppress(OSError):  # removed while we looked: its job ended
                if path.is_file():
                    total += path.stat().st_size
    return total
