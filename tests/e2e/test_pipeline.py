"""End to end: a real clip through the real services, embedded and distributed."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urljoin

import pytest

from tests.e2e.conftest import Deployment
from tests.e2e.pipeline import Client, check_artwork, check_playback, fetch, get, probe_segment, wait_for_quality
from tests.e2e.test_encryption import keyed_segments
from vodkit_shared.content_keys import decrypt_segment

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("deployment", ["embedded", "distributed"])
async def test_a_chunked_upload_becomes_adaptive_hls(
    request: pytest.FixtureRequest, deployment: str, clip: Path
) -> None:
    running: Deployment = request.getfixturevalue(deployment)
    client = Client(running.base_url, running.token("alice"))
    video_id = await client.upload(clip)

    status = await client.wait_until_settled(video_id)

    assert status["status"] == "completed", status
    assert status["qualities"] == {"720p": "ready", "480p": "ready"}
    assert status["progress"] == 100
    assert status["error"] is None
    progress = [s["progress"] for s in client.statuses]
    assert progress == sorted(progress), "progress must never fall"
    await check_playback(status["playbackUrl"], clip_seconds=8.0, heights={"720p": 720, "480p": 480})
    await check_artwork(client, video_id)
    quality = await wait_for_quality(client, video_id, {"720p", "480p"})
    for rung, measured in quality.items():
        assert measured["ssim"] >= 0.95, f"{rung}: {measured}"  # the seed's transcoding quality test
        assert measured["psnr"] > 30, f"{rung}: {measured}"


async def test_fmp4_segments_are_an_option(embedded_fmp4: Deployment, clip: Path) -> None:
    client = Client(embedded_fmp4.base_url, embedded_fmp4.token("alice"))
    status = await client.wait_until_settled(await client.upload(clip))
    assert status["status"] == "completed", status
    _, master, _ = await fetch(status["playbackUrl"])
    assert b"#EXT-X-VERSION:7" in master
    await check_playback(status["playbackUrl"], clip_seconds=8.0, heights={"720p": 720, "480p": 480})


async def test_a_file_that_is_not_a_video_fails_with_a_reason(embedded: Deployment, tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_bytes(b"these are my holiday notes, not a video\n" * 20000)
    client = Client(embedded.base_url, embedded.token("alice"))
    video_id = await client.upload(text)

    status = await client.wait_until_settled(video_id, timeout=30)

    assert status["status"] == "failed"
    assert "not a video" in status["error"]
    assert status["playbackUrl"] is None


async def test_a_small_silent_source_gets_one_rung_at_its_own_height(embedded: Deployment, tmp_path: Path) -> None:
    from tests.support import make_clip

    small = make_clip(tmp_path / "small.mp4", seconds=3, width=640, height=360, audio=False, extra=["-b:v", "3M"])
    client = Client(embedded.base_url, embedded.token("alice"))
    status = await client.wait_until_settled(await client.upload(small))
    assert status["status"] == "completed", status
    assert status["qualities"] == {"360p": "ready"}


async def test_keys_the_packager_seals_open_in_the_gateway_when_each_runs_alone(
    distributed: Deployment, clip: Path
) -> None:
    """Over RabbitMQ and S3, each service with a data dir of its own: the two share VODKIT_CONTENT_KEY alone."""
    client = Client(distributed.base_url, distributed.token("dave"))
    status = await client.wait_until_settled(await client.upload(clip, encryption="aes-128"))
    assert status["status"] == "completed", status
    master_url = status["playbackUrl"]
    playlist_url = urljoin(master_url, "480p/playlist.m3u8?token=" + master_url.split("?token=")[1])
    playlist = (await fetch(playlist_url))[1].decode()
    [(first, key_uri), *_] = keyed_segments(playlist)
    sealed = (await fetch(urljoin(playlist_url, first)))[1]
    status_code, key, _ = await get(urljoin(playlist_url, key_uri))
    assert (status_code, len(key)) == (200, 16)
    assert probe_segment(decrypt_segment(sealed, key, 0)) == 480
