"""The broker goes away (through a relay the test cuts, so the real broker stays up for every other test)."""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.support import AMQP_URL, TcpLink, eventually, need_rabbitmq
from vodkit_shared.service import start_site
from vodkit_shared.tokens import Tokens
from vodkit_upload.app import create_app
from vodkit_upload.settings import UploadSettings

pytestmark = pytest.mark.e2e
SECRET = "broker-outage-secret"
VIDEO = "0f0f0f0f-0000-4000-8000-00000000000b"


@pytest.fixture
async def link() -> AsyncIterator[TcpLink]:
    need_rabbitmq()
    port = int(AMQP_URL.rsplit(":", 1)[1].split("/")[0])
    relay = await TcpLink(port).start()
    yield relay
    await relay.close()


@pytest.fixture
async def upload_service(link: TcpLink, tmp_path: Path) -> AsyncIterator[str]:
    settings = UploadSettings(
        data_dir=tmp_path / "data",
        bus_url=f"amqp://guest:guest@127.0.0.1:{link.port}/?queue_expiry_s=120",
        bus_exchange=f"outage-{uuid.uuid4().hex[:10]}",
        auth_secret=SECRET,
    )
    runner, port = await start_site(create_app(settings), "127.0.0.1", 0)
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def send_chunk(base: str, data: bytes) -> tuple[int, dict[str, str], object]:
    token, _ = Tokens(SECRET).upload_token(VIDEO, "alice", len(data) * 2, None)
    form = aiohttp.FormData()
    for name, value in {"videoId": VIDEO, "chunkIndex": "0", "totalChunks": "2"}.items():
        form.add_field(name, value)
    form.add_field("chunk", io.BytesIO(data), filename="c.bin")
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{base}/api/videos/upload", data=form, headers={"Authorization": f"Bearer {token}"}) as reply,
    ):
        return reply.status, dict(reply.headers), await reply.json(content_type=None)


async def ready(base: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(f"{base}/readyz") as reply:
        return reply.status


async def test_with_the_broker_down_a_chunk_is_503_with_retry_after_and_nothing_is_kept(
    upload_service: str, link: TcpLink, caplog: pytest.LogCaptureFixture
) -> None:
    assert await ready(upload_service) == 200
    caplog.set_level(logging.INFO)
    await link.cut()
    status, headers, body = await send_chunk(upload_service, b"chunk bytes")
    assert status == 503, body  # was a 500: an unhandled channel error
    assert headers["Retry-After"] == "5"
    assert body == {
        "error": {"code": "bus_unavailable", "message": "the message bus is unavailable: try again shortly"}
    }
    assert await ready(upload_service) == 503  # /readyz checked only the metadata store

    async def state() -> object:
        token, _ = Tokens(SECRET).upload_token(VIDEO, "alice", 22, None)
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{upload_service}/api/videos/{VIDEO}/upload", headers={"Authorization": f"Bearer {token}"}) as r,
        ):
            return (await r.json())["uploadedChunks"]

    assert await state() == []  # nothing half-stored

    await link.restore()

    async def back() -> bool:
        return await ready(upload_service) == 200

    await eventually(back, timeout=30, interval=0.5)
    status, _, body = await send_chunk(upload_service, b"chunk bytes")
    assert (status, body) == (200, {"status": "success", "uploadedChunks": [0], "nextChunk": 1})

    # one outage, told once: no tracebacks from the client library (there were about 23 ERROR lines)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert [r.getMessage() for r in caplog.records].count("broker connection lost; reconnecting") == 1
    assert "broker connection back" in [r.getMessage() for r in caplog.records]
