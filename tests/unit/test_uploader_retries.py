"""The uploader's retry policy (5xx, 401, 429 with Retry-After), against a fake gateway that fails on cue."""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web

from vodkit_cli import uploader
from vodkit_shared.bus import RetryPolicy

pytestmark = pytest.mark.unit
Serve = Callable[["FakeGateway"], Awaitable[str]]


class FakeGateway:
    def __init__(self, chunk_answers: list[int]) -> None:
        self.chunk_answers = chunk_answers  # statuses to answer chunk posts with, then 200s
        self.chunk_posts: list[int] = []
        self.renewals = 0

    def app(self) -> web.Application:
        async def create(request: web.Request) -> web.Response:
            return web.json_response({"videoId": "v1", "uploadToken": "t1", "chunkSize": 4, "expiresAt": 0}, status=201)

        async def renew(request: web.Request) -> web.Response:
            self.renewals += 1
            return web.json_response({"videoId": "v1", "uploadToken": "t2", "chunkSize": 4, "expiresAt": 0})

        async def chunk(request: web.Request) -> web.Response:
            form = await request.post()
            self.chunk_posts.append(int(str(form["chunkIndex"])))
            status = self.chunk_answers.pop(0) if self.chunk_answers else 200
            body = {"error": {"code": "x", "message": "scripted"}} if status >= 400 else {"status": "success"}
            headers = {"Retry-After": "7"} if status == 429 else {}
            return web.Response(text=json.dumps(body), status=status, content_type="application/json", headers=headers)

        app = web.Application()
        app.router.add_post("/api/videos", create)
        app.router.add_post("/api/videos/v1/upload-token", renew)
        app.router.add_post("/api/videos/upload", chunk)
        return app


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uploader, "RETRY", RetryPolicy(attempts=3, base_delay_s=0.01))


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[Serve]:
    runners: list[web.AppRunner] = []

    async def start(fake: FakeGateway) -> str:
        runner = web.AppRunner(fake.app())
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        return f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
def four_bytes(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.mp4"
    path.write_bytes(b"abcd")
    return path


async def test_server_errors_are_retried_until_a_chunk_gets_through(serve: Serve, four_bytes: Path) -> None:
    fake = FakeGateway([503, 502])
    await uploader.upload(await serve(fake), "user", four_bytes, wait=False, parallel=1)
    assert fake.chunk_posts == [0, 0, 0]


async def test_three_failures_give_up_with_the_last_reason(serve: Serve, four_bytes: Path) -> None:
    fake = FakeGateway([503, 503, 503])
    with pytest.raises(uploader.UploadFailed, match=r"chunk 0 failed 3 times; last: .*HTTP 503"):
        await uploader.upload(await serve(fake), "user", four_bytes, wait=False, parallel=1)


async def test_a_client_error_is_not_retried(serve: Serve, four_bytes: Path) -> None:
    fake = FakeGateway([400])
    with pytest.raises(uploader.UploadFailed, match="HTTP 400"):
        await uploader.upload(await serve(fake), "user", four_bytes, wait=False, parallel=1)
    assert fake.chunk_posts == [0]


async def test_an_expired_upload_token_is_renewed(serve: Serve, four_bytes: Path) -> None:
    fake = FakeGateway([401])
    await uploader.upload(await serve(fake), "user", four_bytes, wait=False, parallel=1)
    assert (fake.renewals, fake.chunk_posts) == (1, [0, 0])


async def test_a_429_is_sent_again_after_its_retry_after(serve: Serve, four_bytes: Path) -> None:
    fake, waits = FakeGateway([429, 429]), list[float]()

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    await uploader.upload(await serve(fake), "user", four_bytes, wait=False, parallel=1, sleep=sleep)
    assert (fake.chunk_posts, waits) == ([0, 0, 0], [7.0, 7.0])


async def test_a_429_that_lasts_gives_up_after_three_attempts(serve: Serve, four_bytes: Path) -> None:
    fake = FakeGateway([429, 429, 429])

    async def sleep(_: float) -> None:
        pass

    with pytest.raises(uploader.UploadFailed, match=r"HTTP 429 x: scripted \(still refused after 3 attempts\)"):
        await uploader.upload(await serve(fake), "user", four_bytes, wait=False, parallel=1, sleep=sleep)
    assert fake.chunk_posts == [0, 0, 0]


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("7", 7.0), ("0", 0.0), ("soon", 1.0), (None, 1.0), ("86400", 900.0), ("nan", 1.0), ("-5", 0.0)],
)
def test_retry_after_is_read_as_seconds_within_reason(header: str | None, seconds: float) -> None:
    assert uploader.retry_after(header) == seconds


def test_retry_after_may_be_an_http_date() -> None:
    in_a_minute = email.utils.formatdate(time.time() + 60, usegmt=True)
    assert 55 <= uploader.retry_after(in_a_minute) <= 60
