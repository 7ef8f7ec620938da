"""How many CPUs this process may use: the container's CPU limit, not the node's cores.

A pod limited to 2 CPUs on a 64-core node still sees 64 cores in `os.cpu_count()`; ffmpeg and x264
sized from that start dozens of threads each (memory, and throttling by the CFS quota). The limit is
the cgroup's quota (v2 `cpu.max`, v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`), rounded up, and never
more than the CPUs the process is allowed to run on.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")


def quota_cpus(cpu_max: str) -> float | None:
    """The CPUs a cgroup v2 `cpu.max` line allows ("200000 100000" → 2.0); None for no limit ("max ...")."""
    quota, _, period = cpu_max.strip().partition(" ")
    if quota == "max" or not quota.isdigit() or not period.isdigit() or int(period) == 0:
        return None
    return int(quota) / int(period)


def available_cpus(cgroup: Path = CGROUP) -> int:
    """CPUs to size worker threads by (at least 1). Reads a few bytes of sysfs: call it off the event loop."""
    allowed = len(os.sched_getaffinity(0))
    return max(1, min(allowed, math.ceil(limit))) if (limit := _limit(cgroup)) else allowed


def _limit(cgroup: Path) -> float | None:
    v2, v1 = cgroup / "cpu.max", cgroup / "cpu" / "cpu.cfs_quota_us"
    if v2.is_file():
        return quota_cpus(v2.read_text())
    if v1.is_file():
        quota, period = v1.read_text().strip(), (cgroup / "cpu" / "cpu.cfs_period_us").read_text().strip()
        return quota_cpus(f"{quota} {period}") if not quota.startswith("-") else None
    return None
