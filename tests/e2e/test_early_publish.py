"""Early publish end to end: a video plays at its preview while `processing`, then its master becomes the ladder."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Deployment
from tests.e2e.pipeline import Client, get, probe_segment

pytestmark = pytest.mark.e2e


async def first_playable_status(client: Client, video_id: str, timeout: float = 120) -> dict[str, Any]:
    """Polls the status until it has a playback URL."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = await client.call("GET", f"/api/videos/{video_id}/status", client.user_token)
        assert reply.status == 200, reply.body
        if reply.body["playbackUrl"]:
            return dict(reply.body)
        await asyncio.sleep(0.1)
    raise AssertionError(f"{video_id} not playable after {timeout}s")


def next_to(url: str, path: str) -> str:
    return url.replace("master.m3u8", path)


@pytest.mark.parametrize("deployment", ["embedded", "distributed"])
async def test_a_video_plays_at_its_preview_while_processing_then_at_its_ladder(
    request: pytest.FixtureRequest, deployment: str, long_clip: Path
) -> None:
    running: Deployment = request.getfixturevalue(deployment)
    client = Client(running.base_url, running.token("alice"))
    video_id = await client.upload(long_clip)

    early = await first_playable_status(client, video_id)
    assert (early["status"], early["playable"]) == ("processing", True), early
    assert early["progress"] < 100
    status, master, _ = await get(early["playbackUrl"])
    assert status == 200
    assert master.decode().rstrip().endswith("preview/playlist.m3u8?token=" + early["playbackUrl"].split("token=")[1])
    status, playlist, headers = await get(next_to(early["playbackUrl"], "preview/playlist.m3u8"))
    assert status == 200
    assert headers["Cache-Control"] == "public, max-age=1"  # it grows: no cache may keep it longer
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in playlist.decode()
    status, segment, _ = await get(next_to(early["playbackUrl"], "preview/seg_00000.ts"))
    assert status == 200
    assert probe_segment(segment) == 480

    done = await client.wait_until_settled(video_id)
    assert done["status"] == "completed", done
    status, master, _ = await get(done["playbackUrl"])
    assert "720p/playlist.m3u8" in master.decode()
    assert "preview" not in master.decode()
    # the early viewer's playlist still plays, to its end
    status, playlist, _ = await get(next_to(early["playbackUrl"], "preview/playlist.m3u8"))
    assert status == 200
    assert playlist.decode().rstrip().endswith("#EXT-X-ENDLIST")

    assert (await client.call("DELETE", f"/api/videos/{video_id}", client.user_token)).status == 204
    status, _, _ = await get(next_to(early["playbackUrl"], "preview/seg_00000.ts"))
    assert status in (403, 404)  # the preview goes with its video
