"""The seed's HLS playback test, for real: every quality level plays in hls.js in Chromium, TS and fMP4."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.conftest import PlayIn
from tests.e2e.conftest import Deployment
from tests.e2e.pipeline import Client
from tests.e2e.test_audio_only import podcast, published

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("deployment", ["embedded", "embedded_fmp4"], ids=["mpegts", "fmp4"])
async def test_every_level_plays_in_hlsjs(
    request: pytest.FixtureRequest, deployment: str, clip: Path, play_in_hlsjs: PlayIn
) -> None:
    running: Deployment = request.getfixturevalue(deployment)
    client = Client(running.base_url, running.token("alice"))
    status = await client.wait_until_settled(await client.upload(clip))
    assert status["status"] == "completed", status

    seen = await play_in_hlsjs(status["playbackUrl"])

    results = seen["results"]
    levels = results[0]["levels"]  # hls.js orders levels by bitrate, lowest first
    assert sorted(levels) == [480, 720]
    assert [r["level"] for r in results] == [0, 1]
    for result in results:
        assert result["fatal"] is None, result
        assert not result.get("timedOut"), result
        assert result["currentTime"] >= 2.0  # playback time advanced
        assert result["videoHeight"] == levels[result["level"]]  # the decoded picture is the forced level's
        assert result["playingLevel"] == result["level"]


@pytest.mark.parametrize("deployment", ["embedded", "embedded_fmp4"], ids=["mpegts", "fmp4"])
async def test_a_podcast_plays_in_hlsjs(
    request: pytest.FixtureRequest, deployment: str, tmp_path: Path, play_in_hlsjs: PlayIn
) -> None:
    running: Deployment = request.getfixturevalue(deployment)
    details = await published(running, podcast(tmp_path / "episode.mp3"))

    seen = await play_in_hlsjs(details["playbackUrl"], audio_only=True)

    [result] = seen["results"]
    assert result["fatal"] is None, result
    assert not result.get("timedOut"), result
    assert result["currentTime"] >= 2.0  # it played
    assert len(result["levels"]) == 1  # one level, no picture


@pytest.mark.parametrize("deployment", ["embedded", "embedded_fmp4"], ids=["mpegts-aes128", "fmp4-aes128"])
async def test_an_encrypted_video_plays_at_every_level_in_hlsjs(
    request: pytest.FixtureRequest, deployment: str, clip: Path, play_in_hlsjs: PlayIn
) -> None:
    """hls.js fetches the key the playlists name (under the token) and decrypts every segment it plays
    (keys rotating: tests/e2e/test_encryption.py)."""
    running: Deployment = request.getfixturevalue(deployment)
    client = Client(running.base_url, running.token("alice"))
    status = await client.wait_until_settled(await client.upload(clip, encryption="aes-128"))
    assert status["status"] == "completed", status

    seen = await play_in_hlsjs(status["playbackUrl"])

    results = seen["results"]
    assert sorted(results[0]["levels"]) == [480, 720]
    for result in results:
        assert result["fatal"] is None, result
        assert not result.get("timedOut"), result
        assert result["currentTime"] >= 2.0
        assert result["videoHeight"] == result["levels"][result["level"]]
