"""The gateway's own web page, driven as a person would: drop a file, watch it complete, play every quality.

The seed's HLS playback test, through the page's quality menu: for each level, the decoded
picture's height is the level's, playback time advances and hls.js reports no fatal error.
A screenshot of the player (with a storyboard preview showing) is kept in test-artifacts/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.devtools import Page, open_page
from tests.e2e.conftest import Deployment, _embedded
from tests.support import make_clip

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def clip_1080p(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 seconds at 1920x1080, so the ladder has all three rungs."""
    return make_clip(tmp_path_factory.mktemp("media") / "upload me.mp4", seconds=6, width=1920, height=1080)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    yield from _embedded(tmp_path_factory, "web-page", measure_quality="false")  # SSIM is not what this tests


async def test_drop_a_file_watch_it_complete_and_play_every_quality(
    site: Deployment, clip_1080p: Path, tmp_path: Path
) -> None:
    async with open_page(tmp_path / "profile", tmp_path / "chromium.log") as page:
        await page.goto(f"{site.base_url}/#token={site.token('alice')}")
        assert await page.wait_for("document.getElementById('live').classList.contains('on')", 20)

        await page.drop_files("#drop", [clip_1080p])
        await page.wait_for("document.getElementById('upload-percent').textContent === '100%'", 60)
        completed = "window.vodkit.videos.find(v => v.status === 'completed')"
        video = await page.wait_for(completed, 180)
        assert video["filename"] == "upload me.mp4"
        assert video["qualities"] == {"1080p": "ready", "720p": "ready", "480p": "ready"}

        await page.evaluate("document.querySelector('#videos li[data-status=completed] button.watch').click()")
        menu = await page.wait_for(
            "document.getElementById('quality').options.length > 1 &&"
            " [...document.getElementById('quality').options].map(o => o.textContent)"
        )
        assert menu == ["Auto", "1080p", "720p", "480p"]
        assert await page.evaluate("document.getElementById('video').poster.includes('/poster.jpg?token=')")
        await page.evaluate("document.getElementById('video').muted = true; document.getElementById('video').play()")

        for label, height in (("1080p", 1080), ("720p", 720), ("480p", 480)):
            seen = await _force_level(page, label)
            assert seen["height"] == height, (label, seen, page.console[-20:])
            assert seen["advanced"] >= 1.0
        assert await page.evaluate("document.getElementById('player-error').textContent") == ""  # no fatal error
        assert await page.evaluate("window.vodkit.hls.levels.length") == 3

        await _scrub_preview(page)
        await page.screenshot(ARTIFACTS / "player.png")


async def _force_level(page: Page, label: str) -> dict[str, float]:
    """Pick `label` in the quality menu; once that level plays, how far time moves on and at what height."""
    await page.evaluate(
        "(() => { const menu = document.getElementById('quality');"
        f" menu.value = [...menu.options].find(o => o.textContent === '{label}').value;"
        " menu.dispatchEvent(new Event('change')); })()"
    )
    index = await page.evaluate("Number(document.getElementById('quality').value)")
    await page.evaluate("document.getElementById('video').currentTime = 0; document.getElementById('video').play()")
    start = await page.wait_for(
        f"window.vodkit.hls.currentLevel === {index} && window.vodkit.hls.levels[{index}].height ==="
        " document.getElementById('video').videoHeight && document.getElementById('video').currentTime + 0.001",
        40,
    )
    advanced = await page.wait_for(
        f"(() => {{ const v = document.getElementById('video'); const d = v.currentTime - {start};"
        " return (d >= 1 || v.ended) && Math.max(d, 1); })()",
        40,
    )
    height = await page.evaluate("document.getElementById('video').videoHeight")
    return {"height": height, "advanced": advanced}


async def _scrub_preview(page: Page) -> None:
    """Hovering over the seek bar shows the storyboard tile for that time."""
    await page.wait_for("document.getElementById('video').duration > 0")
    x, y = await page.center_of("#scrub")
    await page.hover(x, y)
    preview = await page.wait_for("window.vodkit.preview", 10)
    assert "/storyboard/sprite_000.jpg?token=" in preview["image"]
    assert await page.evaluate("!document.getElementById('preview').hidden")
