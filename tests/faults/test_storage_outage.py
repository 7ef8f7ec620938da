"""The object store goes away (a relay in front of moto that the test cuts): waited for, never a 500."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.faults.test_broker_outage import SECRET, ready, send_chunk
from tests.support import AMQP_URL, TcpLink, need_rabbitmq
from vodkit_shared.service import start_site
from vodkit_shared.storage import StorageUnavailable, open_storage
from vodkit_upload.app import create_app
from vodkit_upload.settings import UploadSettings

pytestmark = pytest.mark.e2e


@pytest.fixture
async def s3_link(s3_server: str) -> AsyncIterator[tuple[TcpLink, str]]:
    """A relay to the S3 server, and a fresh bucket's URL through it."""
    credentials, port = s3_server.rsplit(":", 1)
    relay = await TcpLink(int(port)).start()
    yield relay, f"{credentials}:{relay.port}/vodkit-{uuid.uuid4().hex[:12]}"
    await relay.close()


async def test_an_unreachable_s3_endpoint_is_storage_unavailable_and_back_when_it_is(
    s3_link: tuple[TcpLink, str],
) -> None:
    """It raised urllib3's MaxRetryError, which the transcoder counted as a failed attempt."""
    link, url = s3_link
    storage = await open_storage(url)
    try:
        await storage.put_bytes("a/b", b"kept")
        await link.cut()
        with pytest.raises(StorageUnavailable):
            await storage.put_bytes("a/c", b"lost")
        with pytest.raises(StorageUnavailable):
            await storage.get_bytes("a/b")
        await link.restore()
        assert await storage.get_bytes("a/b") == b"kept"
        assert await storage.size("a/c") is None  # nothing half-written
    finally:
        await storage.close()


async def test_with_the_store_down_a_chunk_is_503_with_retry_after_and_the_service_is_not_ready(
    s3_link: tuple[TcpLink, str], tmp_path: Path
) -> None:
    """It was a 500 (an unhandled MaxRetryError)."""
    need_rabbitmq()
    link, url = s3_link
    settings = UploadSettings(
        data_dir=tmp_path / "data",
        storage_url=url,
        bus_url=f"{AMQP_URL}?queue_expiry_s=120",
        bus_exchange=f"store-outage-{uuid.uuid4().hex[:10]}",
        auth_secret=SECRET,
    )
    runner, port = await start_site(create_app(settings), "127.0.0.1", 0)
    base = f"http://127.0.0.1:{port}"
    try:
        assert await ready(base) == 200
        await link.cut()
        status, headers, body = await send_chunk(base, b"chunk bytes")
        assert status == 503, body
        assert headers["Retry-After"] == "5"
        assert body == {
            "error": {"code": "storage_unavailable", "message": "the object store is unavailable: try again shortly"}
        }
        assert await ready(base) == 503  # /readyz checked the bus and the metadata store, not the objects
        await link.restore()
        assert await ready(base) == 200
        status, _, body = await send_chunk(base, b"chunk bytes")
        assert (status, body) == (200, {"status": "success", "uploadedChunks": [0], "nextChunk": 1})
    finally:
        await runner.cleanup()
