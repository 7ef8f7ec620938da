"""The access log: one line per request with its route, status, duration and bytes, never a token."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from vodkit_shared.access_log import REQUEST_ID_HEADER, Handler
from vodkit_shared.logs import configure_logging
from vodkit_shared.service import ApiError, service_app, start_site

pytestmark = pytest.mark.unit
log = logging.getLogger("tests.access")
VIDEO = "0b7e6d1c-2f4a-4f0e-9d7e-8a1f5c3b2a10"
SECRETS = ("play-token-SECRET", "user-token-SECRET", "cookie-SECRET")


async def thing(request: web.Request) -> web.Response:
    log.info("looking it up")
    return web.json_response({"videoId": request.match_info["video_id"]})


async def missing(_: web.Request) -> web.Response:
    raise ApiError(404, "not_found", "no such thing")


async def broken(_: web.Request) -> web.Response:
    raise RuntimeError("a bug")


async def moved(_: web.Request) -> web.Response:
    raise web.HTTPFound("/healthz")


async def streamed(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    await response.prepare(request)
    for _ in range(4):
        await response.write(b"x" * 10_000)
    return response


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    out = io.StringIO()
    configure_logging("DEBUG", stream=out)
    logging.getLogger("asyncio").setLevel(logging.INFO)
    yield out
    root.handlers[:] = saved
    root.setLevel(level)
    logging.getLogger("asyncio").setLevel(logging.NOTSET)


@pytest.fixture
async def base(tmp_path: Path) -> AsyncIterator[str]:
    (tmp_path / "page.txt").write_bytes(b"0123456789" * 100)

    async def page(_: web.Request) -> web.FileResponse:
        return web.FileResponse(tmp_path / "page.txt")

    @web.middleware
    async def preflight(request: web.Request, handler: Handler) -> web.StreamResponse:  # as the gateway's CORS one
        return web.Response(status=204) if request.method == "OPTIONS" else await handler(request)

    app = service_app("probe")
    app.middlewares.insert(0, preflight)
    app.router.add_get("/page", page)
    app.router.add_get("/things/{video_id}", thing)
    app.router.add_get("/missing", missing)
    app.router.add_get("/broken", broken)
    app.router.add_get("/moved", moved)
    app.router.add_get("/streamed", streamed)
    runner, port = await start_site(app, "127.0.0.1", 0)
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def call(url: str, headers: dict[str, str] | None = None, method: str = "GET") -> tuple[int, str, bytes]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, url, headers=headers or {}, allow_redirects=False) as response,
    ):
        return response.status, response.headers.get(REQUEST_ID_HEADER, ""), await response.read()


def access_lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [entry for entry in everything(out) if entry["logger"] == "vodkit.access"]


def everything(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


async def test_a_request_gets_one_line_with_its_route_status_duration_bytes_and_ids(
    base: str, lines: io.StringIO
) -> None:
    status, request_id, body = await call(f"{base}/things/{VIDEO}")
    assert status == 200
    looked_up, [line] = [e for e in everything(lines) if e["msg"] == "looking it up"], access_lines(lines)
    assert {k: line[k] for k in ("method", "route", "status", "service", "videoId", "correlationId")} == {
        "method": "GET",
        "route": "/things/{video_id}",
        "status": 200,
        "service": "probe",
        "videoId": VIDEO,
        "correlationId": VIDEO,
    }
    assert (line["msg"], line["level"]) == ("GET /things/{video_id} 200", "INFO")
    assert line["requestId"] == request_id
    assert len(request_id) == 32
    assert len(body) < line["bytes"] < len(body) + 1000  # the body and its headers
    assert 0 <= line["durationMs"] < 5000
    assert [looked_up[0][k] for k in ("requestId", "videoId", "service")] == [request_id, VIDEO, "probe"]


async def test_a_sane_request_id_is_kept_and_any_other_replaced(base: str, lines: io.StringIO) -> None:
    given = "edge-7f3a.01:ab_c"
    assert (await call(f"{base}/things/{VIDEO}", {REQUEST_ID_HEADER: given}))[1] == given
    refused = ["x" * 129, "has space", 'quote"d', "semi;colon", "ünicode"]
    answered = [(await call(f"{base}/things/{VIDEO}", {REQUEST_ID_HEADER: bad}))[1] for bad in refused]
    answered.append((await call(f"{base}/things/{VIDEO}"))[1])
    assert all(len(rid) == 32 and int(rid, 16) >= 0 for rid in answered)
    assert len(set(answered)) == len(answered)  # a new one each time
    assert [line["requestId"] for line in access_lines(lines)] == [given, *answered]


async def test_errors_redirects_and_streams_are_logged_as_the_client_got_them(base: str, lines: io.StringIO) -> None:
    assert (await call(f"{base}/missing"))[0] == 404
    status, broken_id, _ = await call(f"{base}/broken")
    assert status == 500
    assert (await call(f"{base}/moved"))[0] == 302
    status, _, body = await call(f"{base}/streamed")
    assert (status, len(body)) == (200, 40_000)
    assert (await call(f"{base}/nowhere/at/all"))[0] == 404
    logged = {(line["route"], line["status"]) for line in access_lines(lines)}
    assert logged == {
        ("/missing", 404),
        ("/broken", 500),
        ("/moved", 302),
        ("/streamed", 200),
        ("unmatched", 404),
    }
    [stream] = [line for line in access_lines(lines) if line["route"] == "/streamed"]
    assert 40_000 < stream["bytes"] < 41_000
    [unhandled] = [e for e in everything(lines) if e["msg"] == "unhandled error"]
    assert (unhandled["requestId"], unhandled["level"]) == (broken_id, "ERROR")


async def test_no_token_cookie_or_query_reaches_any_line(base: str, lines: io.StringIO) -> None:
    headers = {"Authorization": f"Bearer {SECRETS[1]}", "Cookie": f"session={SECRETS[2]}"}
    for path in (f"/things/{VIDEO}", "/missing", "/broken", "/nowhere"):
        await call(f"{base}{path}?token={SECRETS[0]}&other={SECRETS[0]}", headers)
    assert len(access_lines(lines)) == 4
    written = lines.getvalue()
    assert not [secret for secret in SECRETS if secret in written]
    assert "?" not in "".join(line["route"] for line in access_lines(lines))


async def test_probes_and_scrapes_log_at_debug(base: str, lines: io.StringIO) -> None:
    for path in ("/healthz", "/readyz", "/metrics"):
        await call(f"{base}{path}")
    assert [(line["route"], line["level"]) for line in access_lines(lines)] == [
        ("/healthz", "DEBUG"),
        ("/readyz", "DEBUG"),
        ("/metrics", "DEBUG"),
    ]


async def test_a_file_is_logged_with_the_status_it_was_sent_with(base: str, lines: io.StringIO) -> None:
    status, _, body = await call(f"{base}/page", {"Range": "bytes=10-19"})
    assert (status, body) == (206, b"0123456789")
    assert (await call(f"{base}/page", {"Range": "bytes=5000-"}))[0] == 416
    assert (await call(f"{base}/page"))[0] == 200
    assert [(line["status"], line["bytes"] > 0) for line in access_lines(lines)] == [
        (206, True),
        (416, True),
        (200, True),
    ]
    whole = access_lines(lines)[-1]["bytes"]
    assert 1000 < whole < 1500


async def test_an_answer_given_before_the_middleware_still_gets_its_line_and_request_id(
    base: str, lines: io.StringIO
) -> None:
    status, request_id, _ = await call(f"{base}/things/{VIDEO}", method="OPTIONS")
    assert status == 204
    [line] = access_lines(lines)
    assert (line["service"], line["requestId"], line["status"]) == ("probe", request_id, 204)


async def test_an_apps_own_tasks_and_teardown_name_its_service_when_several_share_a_process(
    lines: io.StringIO,
) -> None:
    def app_named(name: str) -> web.Application:
        app = service_app(name)

        async def worker(_: web.Application) -> AsyncIterator[None]:
            ticked = asyncio.Event()

            async def tick() -> None:
                log.info("tick")
                ticked.set()

            task = asyncio.create_task(tick())
            await ticked.wait()
            yield
            await task
            log.info("stopped")

        app.cleanup_ctx.append(worker)
        return app

    runners = [(await start_site(app_named(name), "127.0.0.1", 0))[0] for name in ("first", "second")]
    for runner in reversed(runners):  # as `vodkit up` stops them
        await runner.cleanup()
    said = [(entry["msg"], entry.get("service")) for entry in everything(lines) if entry["logger"] == "tests.access"]
    assert said == [("tick", "first"), ("tick", "second"), ("stopped", "second"), ("stopped", "first")]
