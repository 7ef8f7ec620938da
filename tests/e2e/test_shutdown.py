"""Stopping is prompt: every process exits within 10 s of SIGTERM, with a live stream open and
requests in flight (a chunk whose body stops half-way, a client that never finishes its headers),
and for `vodkit up` a transcode running too.

The one timed assertion of the suite, because the bound is the requirement: Kubernetes kills a
pod that outlives its grace period, and an operator waits on `vodkit up` after Ctrl-C.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest

from tests.e2e.conftest import Deployment, _distributed, _embedded
from tests.e2e.pipeline import Client
from tests.support import eventually

pytestmark = pytest.mark.e2e
EXIT_BOUND_S = 10.0


@pytest.fixture
def embedded_to_stop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    yield from _embedded(tmp_path_factory, "stop-embedded")


@pytest.fixture
def distributed_to_stop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    yield from _distributed(tmp_path_factory, "stop-distributed")


@asynccontextmanager
async def live_stream(base: str, token: str) -> AsyncIterator[aiohttp.ClientResponse]:
    """`GET /api/videos/live`, its first event read: the stream is open and would stay so for a minute."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{base}/api/videos/live", headers={"Authorization": f"Bearer {token}"}) as response,
    ):
        assert response.status == 200
        assert (await response.content.readline()).startswith(b"event: videos")
        yield response


@asynccontextmanager
async def stalled(port: int, request_head: str) -> AsyncIterator[asyncio.StreamReader]:
    """A connection that sent `request_head` and then nothing more, held open until the block ends."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request_head.encode())
    await writer.drain()
    try:
        yield reader
    finally:
        writer.close()


async def answered(reader: asyncio.StreamReader) -> bytes:
    """The status line the server ended a stalled request with (b"" if it only dropped the connection)."""
    return await asyncio.wait_for(reader.readline(), EXIT_BOUND_S)


async def handling_begun() -> None:
    """Give the servers a moment to read what the stalled clients sent: a connection whose request was
    never read is idle, and closed at once; `answered` checks that the chunk was really in flight."""
    await asyncio.sleep(1)


def half_a_chunk(upload_token: str) -> str:
    """A chunk POST whose body stops after its first field: the handler is running, reading the rest."""
    return (
        "POST /api/videos/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {upload_token}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000000\r\n\r\n"
        '--b\r\nContent-Disposition: form-data; name="videoId"\r\n\r\n'
    )


HALF_A_HEADER = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"  # no blank line: the request never ends


async def stop(process: subprocess.Popen[bytes]) -> float:
    """SIGTERM `process`; seconds until it exited (the test fails past the bound)."""
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.to_thread(process.wait, EXIT_BOUND_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{process.args} still running {EXIT_BOUND_S} s after SIGTERM")
    return time.monotonic() - started


async def stream_ended(response: aiohttp.ClientResponse) -> bool:
    """Whether the server ended the stream (EOF or a closed connection) rather than leaving it hanging."""
    try:
        async with asyncio.timeout(EXIT_BOUND_S):
            while await response.content.readline():
                pass
    except aiohttp.ClientError:
        pass
    return True


async def processing(client: Client, video_id: str) -> bool:
    reply = await client.call("GET", f"/api/videos/{video_id}/status", client.user_token)
    return bool(reply.body["status"] == "processing")


async def test_vodkit_up_stops_within_ten_seconds_with_a_stream_open(embedded_to_stop: Deployment, clip: Path) -> None:
    deployment = embedded_to_stop
    alice = Client(deployment.base_url, deployment.token("alice"))
    transcoding = await alice.upload(clip)
    await eventually(lambda: processing(alice, transcoding), timeout=60, interval=0.2)
    created = await alice.create("a.mp4", 1_000_000)
    port = urlsplit(deployment.base_url).port
    assert port is not None
    async with (
        live_stream(deployment.base_url, alice.user_token) as live,
        stalled(port, half_a_chunk(created["uploadToken"])) as chunk,
        stalled(port, HALF_A_HEADER),
    ):
        await handling_begun()
        seconds = await stop(deployment.processes["up"])
        assert await stream_ended(live)
        assert (await answered(chunk)).startswith(b"HTTP/1.1 503")  # ended in the grace period, and said so
    print(f"vodkit up exited {seconds:.1f} s after SIGTERM")
    assert deployment.processes["up"].returncode == 0


async def test_every_service_stops_within_ten_seconds(distributed_to_stop: Deployment) -> None:
    deployment = distributed_to_stop
    alice = Client(deployment.base_url, deployment.token("alice"))
    created = await alice.create("a.mp4", 1_000_000)
    async with AsyncExitStack() as held:
        live = await held.enter_async_context(live_stream(deployment.base_url, alice.user_token))
        chunks = {  # through the gateway, and straight to the upload service
            name: await held.enter_async_context(stalled(deployment.ports[name], half_a_chunk(created["uploadToken"])))
            for name in ("gateway", "upload")
        }
        for port in deployment.ports.values():
            await held.enter_async_context(stalled(port, HALF_A_HEADER))
        await handling_begun()
        exits: dict[str, float] = {}
        for name in sorted(deployment.processes, key=lambda name: name != "gateway"):  # the gateway first
            exits[name] = await stop(deployment.processes[name])
            if name == "gateway":
                assert await stream_ended(live)
                assert (await answered(chunks["gateway"])).startswith(b"HTTP/1.1 503")
    print("seconds from SIGTERM to exit: " + ", ".join(f"{name} {s:.1f}" for name, s in exits.items()))
    assert {name: p.returncode for name, p in deployment.processes.items()} == dict.fromkeys(exits, 0)
