"""A viewer who starts at the early preview keeps playing across the switch to the full ladder, in hls.js."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

import pytest
from aiohttp import web

from tests.browser.conftest import chromium, serve_page, start_chromium, stop_chromium
from tests.e2e.conftest import Deployment
from tests.e2e.pipeline import Client, get
from tests.e2e.test_early_publish import first_playable_status

pytestmark = pytest.mark.browser


@dataclass
class Viewer:
    """What the page reported last; at its next report `pause` pauses (or resumes) it, `stop` ends it."""

    reports: list[dict[str, Any]] = field(default_factory=list)
    pause: bool = False
    stop: bool = False

    @property
    def last(self) -> dict[str, Any]:
        return self.reports[-1] if self.reports else {}

    async def until(self, condition: str, check: Any, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while not check(self.last):
            assert time.monotonic() < deadline, f"the player never {condition}: {self.last}"
            assert not self.last.get("fatal"), self.last
            await asyncio.sleep(0.2)
        return self.last


@pytest.fixture
async def watch(tmp_path: Path) -> AsyncIterator[Any]:
    """`await watch(url)` opens Chromium on early_player.html playing `url`; returns its Viewer."""
    chromium()  # skipped (or failed) here, before any page is served
    viewer = Viewer()

    async def progress(request: web.Request) -> web.Response:
        viewer.reports.append(json.loads(await request.text()))
        return web.json_response({"stop": viewer.stop, "pause": viewer.pause})

    runner, port = await serve_page("early_player.html", "/progress", progress)
    browsers: list[asyncio.subprocess.Process] = []
    logs: list[BinaryIO] = []

    async def open_page(url: str) -> Viewer:
        log = (tmp_path / "chromium.log").open("wb")  # the page's console lands here too
        logs.append(log)
        page = f"http://127.0.0.1:{port}/?src={quote(url, safe='')}"
        browsers.append(await start_chromium(tmp_path / "profile", log, page))
        return viewer

    yield open_page
    for browser in browsers:
        await stop_chromium(browser)
    for log in logs:
        log.close()
    await runner.cleanup()


async def test_an_early_viewer_plays_on_across_the_switch_to_the_ladder(
    embedded: Deployment, long_clip: Path, watch: Any
) -> None:
    client = Client(embedded.base_url, embedded.token("alice"))
    video_id = await client.upload(long_clip)
    early = await first_playable_status(client, video_id)
    assert early["status"] == "processing"

    viewer: Viewer = await watch(early["playbackUrl"])
    started = await viewer.until("showed a frame", lambda r: r.get("firstFrameAt"))
    # The ladder here encodes at about 1x, as fast as a viewer watches: a pause makes sure that the
    # switch comes while this viewer still has the rest of the video to play.
    await viewer.until("played 2 s", lambda r: r["currentTime"] >= 2)
    viewer.pause = True
    done = await client.wait_until_settled(video_id)
    assert done["status"] == "completed", done
    at_switch = viewer.last
    assert not at_switch["ended"], at_switch
    viewer.pause = False
    after = await viewer.until("played to the end", lambda r: r["ended"])
    viewer.stop = True

    assert started["levels"] == [480]  # the early master: the preview alone
    assert started["startedAt"] < 0.5  # from the start, not from the growing playlist's live edge
    assert after["fatal"] is None, after
    assert after["currentTime"] == pytest.approx(16, abs=0.5)  # the whole video, on the preview
    assert after["videoHeight"] == 480
    status, master, _ = await get(done["playbackUrl"])  # a new viewer gets the ladder
    assert (status, "720p/playlist.m3u8" in master.decode()) == (200, True)
