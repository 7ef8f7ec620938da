"""Headless Chromium (Debian's) driving a page that reports back to the test over loopback."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

import pytest
from aiohttp import web

from tests.e2e.conftest import (  # noqa: F401 - fixtures shared with e2e
    clip,
    embedded,
    embedded_fmp4,
    long_clip,
)
from tests.support import REQUIRE_SERVERS

HERE = Path(__file__).parent
HLS_JS = Path(__file__).parents[2] / "services" / "gateway" / "web" / "node_modules" / "hls.js" / "dist" / "hls.min.js"
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--mute-audio",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--enable-logging=stderr",
    "--v=0",
]

PlayIn = Callable[..., Awaitable[dict[str, Any]]]  # (url, audio_only=False): what the page saw


async def start_chromium(profile: Path, log: BinaryIO, *args: str) -> asyncio.subprocess.Process:
    """Headless Chromium with its own profile, `args` (flags, then the page) after the usual flags;
    its stderr, the page's console included, goes to `log`."""
    return await asyncio.create_subprocess_exec(
        chromium(),
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        *args,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=log,
    )


async def stop_chromium(browser: asyncio.subprocess.Process) -> None:
    browser.terminate()
    await asyncio.wait_for(browser.wait(), 10)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found and HLS_JS.exists():
        return found
    message = "needs Debian's chromium and hls.js (make setup installs both)"
    if REQUIRE_SERVERS:
        pytest.fail(message)
    pytest.skip(message)


async def serve_page(
    page: str, report_path: str, on_report: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> tuple[web.AppRunner, int]:
    """A loopback site serving `page` (from this folder) at `/` with hls.js beside it, the page posting its
    reports to `report_path`; the runner (to clean up) and its port."""

    async def page_file(_: web.Request) -> web.FileResponse:
        return web.FileResponse(HERE / page)

    async def hls_js(_: web.Request) -> web.FileResponse:
        return web.FileResponse(HLS_JS)

    app = web.Application()
    app.router.add_get("/", page_file)
    app.router.add_get("/hls.js", hls_js)
    app.router.add_post(report_path, on_report)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


@pytest.fixture
async def play_in_hlsjs(tmp_path: Path) -> AsyncIterator[PlayIn]:
    """`await play_in_hlsjs(url)` plays every level of `url` in hls.js and returns what the page saw."""
    chromium()  # skipped (or failed) here, before any page is served
    reported: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def result(request: web.Request) -> web.Response:
        await reported.put(json.loads(await request.text()))
        return web.Response(text="ok")

    runner, port = await serve_page("player.html", "/result", result)

    async def play(url: str, audio_only: bool = False) -> dict[str, Any]:
        page = f"http://127.0.0.1:{port}/?src={quote(url, safe='')}" + ("&audio=1" if audio_only else "")
        with (tmp_path / "chromium.log").open("wb") as log:  # the page's console lands here too
            browser = await start_chromium(tmp_path / "profile", log, page)
            try:
                return await asyncio.wait_for(reported.get(), 90)
            finally:
                await stop_chromium(browser)

    yield play
    await runner.cleanup()
