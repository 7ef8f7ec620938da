"""The analytics dashboard shows what a real playback in the web page reported.

A short 720p clip is uploaded and processed (ladder 720p + 480p); the web page plays it for a few
seconds at each of the two levels, forced through hls.js's `currentLevel`; then the dashboard,
opened as its owner (an admin, so the fleet-wide part shows too), must count the view, the watch
time and both qualities, from `GET /api/videos/{id}/analytics` and `GET /api/analytics`, and draw
its plots. A screenshot is kept in test-artifacts/dashboard.png.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.browser.devtools import Page, open_page
from tests.e2e.conftest import Deployment, _embedded
from tests.e2e.pipeline import VODKIT
from tests.support import make_clip
from vodkit_gateway.browser_policy import PAGE_POLICY

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts"
OWNER = "dana"
PLAY_S = 2.5  # seconds of playback at each level


@pytest.fixture(scope="module")
def clip_720p(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 seconds at 1280x720: two rungs (720p, 480p), one segment each."""
    return make_clip(tmp_path_factory.mktemp("media") / "two levels.mp4", seconds=6, width=1280, height=720)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    yield from _embedded(
        tmp_path_factory, "dashboard", measure_quality="false", x264_preset="ultrafast", admin_users=json.dumps([OWNER])
    )


async def upload(site: Deployment, clip: Path) -> str:
    """The video id, once processed (the CLI's chunked upload, `--wait`)."""
    process = await asyncio.create_subprocess_exec(
        *VODKIT, "upload", str(clip), "--url", site.base_url, "--token", site.token(OWNER), "--wait",
        env=site.env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 180)
    assert process.returncode == 0, err.decode()
    return out.decode().split()[0]


async def test_a_playback_at_two_levels_shows_on_the_dashboard(
    site: Deployment, clip_720p: Path, tmp_path: Path
) -> None:
    async with aiohttp.ClientSession(site.base_url) as http:  # the page and its scripts, under the page's policy
        for path, kind in (("/dashboard", "text/html"), ("/web/dashboard.js", "text/javascript"),
                           ("/web/chart.umd.min.js", "text/javascript")):  # fmt: skip
            async with http.get(path) as response:
                assert response.status == 200, path
                assert response.content_type == kind
                assert response.headers["Content-Security-Policy"] == PAGE_POLICY
    video_id = await upload(site, clip_720p)
    token = site.token(OWNER)
    async with open_page(tmp_path / "profile", tmp_path / "chromium.log", height=2600) as page:
        await page.goto(f"{site.base_url}/#token={token}")
        await page.wait_for(f"window.vodkit.videos.some(v => v.videoId === '{video_id}')", 30)
        await page.evaluate(f"window.vodkit.play('{video_id}')")
        levels = await page.wait_for(
            "window.vodkit.hls && window.vodkit.hls.levels.length > 1 && window.vodkit.hls.levels.map(l => l.height)"
        )
        assert sorted(levels) == [480, 720]
        await page.evaluate("document.getElementById('video').muted = true")
        for height in (720, 480):
            await _play_at(page, levels.index(height), height)
        assert await page.evaluate("document.getElementById('player-error').textContent") == ""

        # leaving the page sends what is left (sendBeacon on pagehide); the writer stores within about a second
        await page.send("Page.navigate", url=f"{site.base_url}/dashboard#token={token}&video={video_id}")
        report = await _dashboard_once_counted(page)

        summary = report["summary"]
        assert summary["views"] == 1
        assert summary["watchSeconds"] >= 2 * PLAY_S - 1
        plays = {q["quality"]: q["plays"] for q in report["qualities"]}
        assert set(plays) == {"720p", "480p"}, report["qualities"]
        assert min(plays.values()) >= 1, report["qualities"]

        shown = await page.evaluate(
            "(() => { const s = document.getElementById('video-report');"
            " const tile = (n) => s.querySelector(`[data-figure=${n}]`).textContent;"
            " return { views: tile('views'), watch: tile('watchTime'),"
            " qualities: [...s.querySelectorAll('table.qualities tbody tr td:first-child')].map(td => td.textContent),"
            " charts: [...s.querySelectorAll('canvas')].filter(c => Chart.getChart(c)).length }; })()"
        )
        assert shown["views"] == "1"
        value, unit = shown["watch"].split()
        assert unit == "s", shown
        assert float(value) >= 2 * PLAY_S - 1, shown
        assert shown["qualities"] == ["720p", "480p"]  # tallest first
        assert shown["charts"] == 5  # views, startup, buffer health, quality mix, stalls

        fleet = await page.wait_for("window.vodkitDashboard.fleet")  # an admin: every video, and the funnel
        assert fleet["summary"]["views"] >= 1
        assert fleet["funnel"]["completed"] >= 1
        assert fleet["funnel"]["uploaded"] >= 1
        assert await page.evaluate("document.querySelectorAll('#fleet-report canvas').length") == 6
        assert await page.evaluate("document.getElementById('error').textContent") == ""
        await page.screenshot(ARTIFACTS / "dashboard.png")


async def _play_at(page: Page, index: int, height: int) -> None:
    """Force hls.js onto level `index` and play from the start until PLAY_S seconds have passed at it."""
    await page.evaluate(
        f"window.vodkit.hls.currentLevel = {index};"
        " document.getElementById('video').currentTime = 0; document.getElementById('video').play()"
    )
    start = await page.wait_for(
        f"window.vodkit.hls.currentLevel === {index} && document.getElementById('video').videoHeight === {height}"
        " && !document.getElementById('video').paused && document.getElementById('video').currentTime + 0.001",
        40,
    )
    await page.wait_for(
        f"(() => {{ const v = document.getElementById('video');"
        f" return v.currentTime - {start} >= {PLAY_S} || v.ended; }})()",
        40,
    )


async def _dashboard_once_counted(page: Page) -> Any:
    """The dashboard's report of the video once it counts the view and both levels (asked again until then)."""
    await page.wait_for("window.vodkitDashboard && window.vodkitDashboard.loaded", 30)
    return await page.wait_for(
        "(async () => { const d = window.vodkitDashboard;"
        " const done = () => d.video && d.video.summary.views > 0 && d.video.qualities.length > 1;"
        " if (!done()) await d.refresh(); return done() && d.video; })()",
        30,
    )
