"""Subtitles in hls.js (issue 17): the track is listed, and its cue shows at its time and not after, TS and fMP4.

The cue runs from 2 s to 4 s of the video: active when playback passes 3 s, gone at 5 s. A wrong
X-TIMESTAMP-MAP (the MPEG-TS muxer's 1.4 s shift ignored, say) moves it off those times.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web

from tests.browser.conftest import chromium, serve_page, start_chromium, stop_chromium
from tests.browser.devtools import open_page
from tests.e2e.conftest import Deployment
from tests.e2e.pipeline import Client
from tests.e2e.test_subtitles import ENGLISH, add_subtitles, upload_chunks, wait_until_ready

pytestmark = pytest.mark.browser
Watch = Callable[[str], Awaitable[dict[str, Any]]]


@pytest.fixture
async def watch_subtitles(tmp_path: Path) -> AsyncIterator[Watch]:
    chromium()
    reported: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def result(request: web.Request) -> web.Response:
        await reported.put(json.loads(await request.text()))
        return web.Response(text="ok")

    runner, port = await serve_page("subtitle_player.html", "/result", result)

    async def watch(url: str) -> dict[str, Any]:
        with (tmp_path / "chromium.log").open("wb") as log:
            browser = await start_chromium(
                tmp_path / "profile", log, f"http://127.0.0.1:{port}/?src={quote(url, safe='')}"
            )
            try:
                return await asyncio.wait_for(reported.get(), 90)
            finally:
                await stop_chromium(browser)

    yield watch
    await runner.cleanup()


@pytest.mark.parametrize("encryption", ["none", "aes-128"])
@pytest.mark.parametrize("deployment", ["embedded", "embedded_fmp4"], ids=["mpegts", "fmp4"])
async def test_a_subtitle_cue_shows_at_its_time_in_hlsjs(
    request: pytest.FixtureRequest, deployment: str, encryption: str, clip: Path, watch_subtitles: Watch
) -> None:
    """Encrypted too: its segments cannot be read to measure their first timestamp, so the packager re-cuts."""
    running: Deployment = request.getfixturevalue(deployment)
    client = Client(running.base_url, running.token("alice"))
    data = clip.read_bytes()
    created = await client.create(clip.name, len(data), encryption=encryption)
    added = await add_subtitles(client, created["videoId"], "en", ENGLISH)  # before the upload: the ladder's master
    assert added.status == 202, added.body
    await upload_chunks(client, created, data)
    status = await client.wait_until_settled(created["videoId"])
    assert status["status"] == "completed", status
    await wait_until_ready(client, created["videoId"], {"en"})

    seen = await watch_subtitles(status["playbackUrl"])

    assert seen["fatal"] is None, seen
    assert not seen.get("timedOut"), seen
    assert seen["hlsTracks"] == [{"name": "English", "lang": "en", "default": True}]
    assert seen["subtitleTrack"] == 0
    assert [(t["label"], t["language"], t["mode"]) for t in seen["tracks"]] == [("English", "en", "showing")]
    [cue] = seen["at"]["3"]["cues"]
    assert cue["text"] == "Hello from vodkit", seen
    assert abs(cue["start"] - 2.0) < 0.1, seen  # where the file put it, within a few frames
    assert abs(cue["end"] - 4.0) < 0.1, seen
    assert seen["at"]["5"]["cues"] == [], seen


async def test_the_web_page_offers_a_subtitle_menu(embedded: Deployment, clip: Path, tmp_path: Path) -> None:
    client = Client(embedded.base_url, embedded.token("alice"))
    video_id = await client.upload(clip)
    assert (await client.wait_until_settled(video_id))["status"] == "completed"
    for language, label in (("en", "English"), ("pt-BR", "Português")):
        assert (await add_subtitles(client, video_id, language, ENGLISH, label=label)).status == 202
    await wait_until_ready(client, video_id, {"en", "pt-BR"})

    async with open_page(tmp_path / "profile", tmp_path / "chromium.log") as page:
        await page.goto(f"{embedded.base_url}/#token={embedded.token('alice')}")
        await page.wait_for("document.getElementById('live').classList.contains('on')", 20)
        await page.evaluate(f"window.vodkit.play('{video_id}')")
        menu = await page.wait_for(
            "document.getElementById('subtitles').options.length > 2 &&"
            " [...document.getElementById('subtitles').options].map(o => o.textContent)",
            30,
        )
        assert menu == ["Off", "English", "Português"]
        assert await page.wait_for("document.getElementById('subtitles').value === '0'", 10)  # the default shows
        await page.evaluate(
            "(() => { const menu = document.getElementById('subtitles'); menu.value = '1';"
            " menu.dispatchEvent(new Event('change')); })()"
        )
        assert await page.wait_for("window.vodkit.hls.subtitleTrack === 1", 10)
        await page.evaluate(
            "(() => { const menu = document.getElementById('subtitles'); menu.value = '-1';"
            " menu.dispatchEvent(new Event('change')); })()"
        )
        assert await page.wait_for("window.vodkit.hls.subtitleTrack === -1", 10)
