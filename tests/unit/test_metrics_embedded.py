"""`vodkit up` serves its one registry once: the gateway's port has /metrics (with every service's figures),
the five internal ports answer 404 there and still answer /healthz."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import aiohttp
import pytest

from tests.support import eventually, free_port
from vodkit_cli.embedded import run_all

pytestmark = pytest.mark.unit


def listening_ports() -> set[int]:
    """The TCP ports this process listens on (from /proc: its socket inodes among the LISTEN sockets)."""
    inodes = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


async def test_only_the_gateway_serves_metrics_and_it_serves_every_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VODKIT_HWACCEL", "none")  # no trial encode: this test is about ports
    before, port = listening_ports(), free_port()
    up = asyncio.create_task(run_all("127.0.0.1", port))
    try:
        async with aiohttp.ClientSession() as http:

            async def gateway_up() -> bool:
                try:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                        return response.status == 200
                except aiohttp.ClientError:
                    return False

            await eventually(gateway_up, timeout=60)
            internal = listening_ports() - before - {port}
            assert len(internal) == 5
            async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                assert response.status == 200
                text = await response.text()
            for name in (
                "vodkit_transcode_jobs_waiting",
                "vodkit_upload_sessions_open",
                "vodkit_videos_published_total",
            ):
                assert text.count(f"\n{name} ") == 1  # each figure once, from the one registry
            services = set()
            for internal_port in internal:
                async with http.get(f"http://127.0.0.1:{internal_port}/metrics") as response:
                    assert response.status == 404
                async with http.get(f"http://127.0.0.1:{internal_port}/healthz") as response:
                    services.add((await response.json())["service"])
            assert services == {"upload", "transcoder", "packager", "storage-tiering", "cdn-purge"}
    finally:
        up.cancel()
        await asyncio.gather(up, return_exceptions=True)
