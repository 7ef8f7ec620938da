"""Helpers shared by the tests: waiting, free ports, generated media, the servers tests need."""

from __future__ import annotations

import asyncio
import importlib
import os
import pkgutil
import socket
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from vodkit_shared.bus.memory import MemoryBus
from vodkit_shared.events import Envelope

AMQP_URL = os.environ.get("VODKIT_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
MONGODB_URL = os.environ.get("VODKIT_TEST_MONGODB_URL", "")
# `make test` sets this: there, a missing RabbitMQ is a failure, not a skip.
REQUIRE_SERVERS = os.environ.get("VODKIT_REQUIRE_SERVERS") == "1"


async def eventually(
    check: Callable[[], Awaitable[bool]] | Callable[[], bool], timeout: float = 15.0, interval: float = 0.05
) -> None:
    """Wait until `check()` is true; fail the test after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rabbitmq_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=1):
            return True
    except OSError:
        return False


def need_rabbitmq() -> None:
    if not rabbitmq_reachable():
        if REQUIRE_SERVERS:
            pytest.fail("RabbitMQ is not reachable at 127.0.0.1:5672 (make test starts it: scripts/ensure-rabbitmq)")
        pytest.skip("RabbitMQ is not reachable at 127.0.0.1:5672; run `make test` to start it")


def make_clip(
    path: Path,
    seconds: float = 8,
    width: int = 1280,
    height: int = 720,
    audio: bool = True,
    extra: list[str] | None = None,
) -> Path:
    """A generated clip with motion and noise (texture an encoder has to work for)."""
    argv = [
        "ffmpeg",
        "-nostdin",
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={width}x{height}:rate=30:duration={seconds}",
    ]
    if audio:
        argv += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:a", "aac"]
    argv += [
        "-vf",
        "noise=alls=12:allf=t",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-crf",
        "28",
        "-pix_fmt",
        "yuv420p",
        *(extra or []),
        str(path),
    ]
    subprocess.run(argv, check=True)
    return path


class TcpLink:
    """A loopback TCP relay to a server (RabbitMQ), which a test can cut and restore: an outage the
    clients see exactly as a broker that went away (connections reset, new ones refused), while the
    real broker, shared by every other test, stays up."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self, port: int = 0) -> TcpLink:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def cut(self) -> None:
        """Reset every relayed connection and refuse new ones until `restore`."""
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()

    async def restore(self) -> None:
        await self.start(self.port)

    async def close(self) -> None:
        if self._server is not None and self._server.is_serving():
            await self.cut()

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(*self._target)
        except OSError:
            client_writer.transport.abort()
            return
        self._open |= {client_writer, server_writer}
        await asyncio.gather(
            self._pipe(client_reader, server_writer), self._pipe(server_reader, client_writer), return_exceptions=True
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            self._open.discard(writer)
            writer.transport.abort()


VODKIT_PACKAGES = (
    "vodkit_shared",
    "vodkit_gateway",
    "vodkit_upload",
    "vodkit_transcoder",
    "vodkit_packager",
    "vodkit_tiering",
    "vodkit_cdn_purge",
    "vodkit_cli",
)


def import_every_vodkit_module() -> None:
    """Import each module of each vodkit package (entrypoints aside), so that whatever they define at
    import time (event classes, Prometheus metrics) is there to be found."""
    for package in VODKIT_PACKAGES:
        root = importlib.import_module(package)
        for module in pkgutil.walk_packages(root.__path__, f"{package}."):
            if not module.name.endswith(".__main__"):
                importlib.import_module(module.name)


class RecordingBus(MemoryBus):
    """A memory bus that keeps every envelope in the order it was published."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.published: list[Envelope] = []

    async def publish(self, envelope: Envelope) -> None:
        self.published.append(envelope)
        await super().publish(envelope)
