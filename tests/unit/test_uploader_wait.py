"""`vodkit upload --wait`: follows the live stream, polls (with If-None-Match, honouring Retry-After)
only where there is none; and the CLI's failures are one line on stderr, never a traceback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.support import free_port
from vodkit_cli import uploader
from vodkit_cli.main import main

pytestmark = pytest.mark.unit
VIDEO = "v1"
URL = "http://example/videos/v1/master.m3u8?token=t"
Serve = Callable[["FakeGateway"], Awaitable[str]]
Reply = tuple[int, dict[str, Any] | None, dict[str, str]]  # status, JSON body, headers


def entry(status: str, progress: int, **extra: Any) -> dict[str, Any]:
    return {"videoId": VIDEO, "status": status, "progress": progress, **extra}


class FakeGateway:
    def __init__(self, streams: list[list[list[dict[str, Any]]]] | None, statuses: list[Reply]) -> None:
        self.streams = streams  # per connection, the lists it sends; None: no live route at all
        self.statuses = statuses  # answers to status requests, in turn
        self.live_connects = 0
        self.held: list[str | None] = []  # If-None-Match of each status request

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(f"/api/videos/{VIDEO}/status", self.status)
        if self.streams is not None:
            app.router.add_get("/api/videos/live", self.live)
        return app

    async def status(self, request: web.Request) -> web.Response:
        self.held.append(request.headers.get("If-None-Match"))
        code, body, headers = self.statuses.pop(0)
        return web.Response(status=code, text=json.dumps(body) if body else None, headers=headers)

    async def live(self, request: web.Request) -> web.StreamResponse:
        assert self.streams is not None
        self.live_connects += 1
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for videos in self.streams.pop(0):
            data = json.dumps({"videos": [{"videoId": "other", "status": "completed", "progress": 100}, *videos]})
            event = f"event: videos\ndata: {data}\n\n".encode()
            await response.write(b": a comment, which clients skip\n")
            await response.write(event[:20])  # split mid-line, as TCP may
            await response.write(event[20:])
        await response.write_eof()
        return response


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
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


async def wait(base: str) -> tuple[str, list[float]]:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async with aiohttp.ClientSession(base) as http:
        url = await uploader.wait_until_done(uploader.Api(http, "user", sleep), VIDEO)
    return url, waits


COMPLETED: Reply = (200, {"status": "completed", "progress": 100, "playbackUrl": URL, "error": None}, {})


async def test_wait_follows_the_live_stream_and_asks_the_status_once(serve: Serve) -> None:
    streams = [[[entry("processing", 40)], [entry("processing", 80)]], [[entry("completed", 100)]]]
    fake = FakeGateway(streams, [COMPLETED])
    url, waits = await wait(await serve(fake))
    assert url == URL
    assert fake.live_connects == 2  # the first stream ended (as the gateway's do each minute): another
    assert (fake.held, waits) == ([None], [])  # one status request, for the signed URL; no polling


async def test_a_failure_seen_on_the_stream_is_the_error(serve: Serve) -> None:
    failed: Reply = (200, {"status": "failed", "progress": 40, "error": "no video stream"}, {})
    fake = FakeGateway([[[entry("failed", 40, error="no video stream")]]], [failed])
    with pytest.raises(uploader.UploadFailed, match="processing failed: no video stream"):
        await wait(await serve(fake))


async def test_without_a_live_stream_it_polls_once_a_second_with_if_none_match(serve: Serve) -> None:
    processing = {"status": "processing", "progress": 40, "playbackUrl": None, "error": None}
    fake = FakeGateway(None, [(200, processing, {"ETag": '"a"'}), (304, None, {"ETag": '"a"'}), COMPLETED])
    url, waits = await wait(await serve(fake))
    assert url == URL
    assert fake.held == [None, '"a"', '"a"']  # the 304 kept what it had, and its ETag
    assert waits == [1.0, 1.0]


async def test_a_refused_poll_waits_its_retry_after(serve: Serve) -> None:
    limited: Reply = (429, {"error": {"code": "rate_limited", "message": "too many"}}, {"Retry-After": "5"})
    fake = FakeGateway(None, [limited, COMPLETED])
    assert await wait(await serve(fake)) == (URL, [5.0])


# ---- the command's failures ----------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["upload", *argv])
    return code, capsys.readouterr().err


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"not much of a video")
    return path


def test_an_unreachable_gateway_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str], clip: Path) -> None:
    code, err = run(capsys, str(clip), "--url", f"http://127.0.0.1:{free_port()}", "--token", "t", "--wait")
    assert code == 1
    assert err.count("\n") == 1, err
    assert err.startswith("vodkit upload: POST /api/videos: Cannot connect to host 127.0.0.1:")
    assert "Traceback" not in err


async def test_a_refusal_is_one_line_and_exit_1(serve: Serve, clip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async def refuse(_: web.Request) -> web.Response:
        body = {"error": {"code": "unauthorized", "message": "invalid user token: Signature verification failed."}}
        return web.json_response(body, status=401)

    app = web.Application()
    app.router.add_post("/api/videos", refuse)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        code, err = await asyncio.to_thread(run, capsys, str(clip), "--url", f"http://127.0.0.1:{port}", "--token", "t")
    finally:
        await runner.cleanup()
    assert code == 1
    assert err == "vodkit upload: HTTP 401 unauthorized: invalid user token: Signature verification failed.\n"
