"""Writes docs/reliability.md from the figures the chaos scenarios recorded."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.chaos.cluster import Figures

HEADER = """# Reliability: the chaos suite

Written by `{command}` on {date} ({machine}); pytest exit status {status}.
Each scenario runs six `vodkit serve` processes over RabbitMQ (a vhost of their own, created for the
scenario with `rabbitmqctl add_vhost` and deleted after), with one shared storage directory (or moto S3),
one shared SQLite metadata store, and a supervisor that restarts a process that died, a second later,
with the same argv, env and port (as Kubernetes restarts a container). Broker and S3 outages are a TCP
relay in front of them that the scenario cuts (connections reset, new ones refused); the shared broker
itself is never stopped. Clips are generated (testsrc2 with noise, 640x360 for 6 s or 854x480 for 40 s),
encoded with `x264_preset=ultrafast`, quality measurement off, transcode job lease 6 s.

Columns:
- **videos / completed / failed / stuck**: the videos the scenario uploaded, and their status at its
  deadline (stuck: neither completed nor failed by then).
- **double work**: videos whose finished work was announced twice: more than one distinct
  `rendition.ready` event id for a rung, or more than one distinct `package.done` id (a redelivered
  event keeps its id, so redeliveries and the scenario's own replays do not count).
- **encodes**: completed ladder encodes (the transcoder's `ladder encoded` log lines, across restarts).
  An encode killed before it finished is not one.
- **re-encodes**: encodes beyond one a video. Once a job's products are stored, the job keeps what
  announces them (a checkpoint), and a worker that takes it over announces those without encoding; only
  a transcoder killed in the second or so between the end of its ffmpeg and that checkpoint (while it
  stores the renditions) costs a second encode.
- **seconds**: the scenario's wall time, cluster start and stop included.
"""


def write_report(target: Path, results: list[Figures], load: dict[str, Any], command: str, status: int) -> None:
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [HEADER.format(command=command, date=date, machine=machine, status=status)]
    parts.append("## Results\n")
    columns = ["scenario", "in", "videos", "completed", "failed", "stuck", "double work", "encodes", "re-encodes"]
    parts.append("| " + " | ".join([*columns, "seconds"]) + " |")
    parts.append("|---|---|---|---|---|---|---|---|---|---|")
    for f in results:
        parts.append(
            f"| {f.scenario} | {f.where} | {f.videos} | {f.completed} | {f.failed} | {f.stuck} | {f.double_work}"
            f" | {f.encodes} | {f.re_encodes} | {f.seconds} |"
        )
    parts.append("\n## Timings and notes\n")
    for f in results:
        parts.append(f"### {f.scenario}\n")
        parts.extend(f"- {name}: {_show(value)}" for name, value in f.notes.items())
        parts.append("")
    if load:
        parts.append("## Load run\n")
        parts.append(f"{load.pop('summary', '')}\n")
        parts.append("| what | requests | 5xx | p50 ms | p99 ms | max ms |")
        parts.append("|---|---|---|---|---|---|")
        for name, row in load.pop("latencies", {}).items():
            parts.append(f"| {name} | {row['count']} | {row['5xx']} | {row['p50']} | {row['p99']} | {row['max']} |")
        parts.append("\n| service | peak RSS MiB | RSS at the end MiB |")
        parts.append("|---|---|---|")
        for name, (peak, end) in load.pop("rss", {}).items():
            parts.append(f"| {name} | {peak} | {end} |")
        parts.append("")
        parts.extend(f"- {name}: {_show(value)}" for name, value in load.items())
    target.write_text("\n".join(parts).rstrip() + "\n")


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)
