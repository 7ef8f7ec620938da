"""Through the running services: an upload cannot steer ffmpeg into another user's video, and every rung plays."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import Deployment
from tests.e2e.pipeline import Client, check_playback
from tests.support import make_clip

pytestmark = pytest.mark.e2e


async def send(client: Client, filename: str, data: bytes) -> str:
    """Create a video and send `data` in the chunks the server asks for; returns the videoId."""
    created = await client.create(filename, len(data))
    size = int(created["chunkSize"])
    total = max(1, math.ceil(len(data) / size))
    for index in range(total):
        chunk = data[index * size : (index + 1) * size]
        reply = await client.send_chunk(created["uploadToken"], created["videoId"], index, total, chunk)
        assert reply.status == 200, reply.body
    return str(created["videoId"])


async def test_an_hls_playlist_of_another_users_segment_fails_and_reads_nothing(
    embedded: Deployment, clip: Path
) -> None:
    alice = Client(embedded.base_url, embedded.token("alice"))
    victim = await alice.upload(clip)
    assert (await alice.wait_until_settled(victim))["status"] == "completed"
    segment = Path(embedded.env["VODKIT_DATA_DIR"]).resolve() / "objects" / "hls" / victim / "480p" / "seg_00000.ts"
    assert segment.is_file()
    os.utime(segment, (0, time.time()))  # a read now would move the access time (relatime)
    playlist = "#EXTM3U\n#EXT-X-TARGETDURATION:6\n"
    for target in (f"/proc/self/cwd{'/..' * 30}{segment}", str(segment), f"file:{segment}"):
        playlist += f"#EXTINF:6.0,\n{target}\n"
    mallory = Client(embedded.base_url, embedded.token("mallory"))

    video_id = await send(mallory, "holiday.mp4", (playlist + "#EXT-X-ENDLIST\n").encode())
    started = time.monotonic()
    status = await mallory.wait_until_settled(video_id, timeout=30)

    assert status["status"] == "failed", status
    assert status["error"] == "an HLS playlist is not a video file"
    assert time.monotonic() - started < 10
    assert status["playbackUrl"] is None
    details = (await mallory.call("GET", f"/api/videos/{video_id}", mallory.user_token)).body
    assert details["posterUrl"] is None
    assert segment.stat().st_atime == 0, "the other user's segment was read"


@pytest.mark.parametrize("deployment", ["embedded", "distributed"])
async def test_a_dash_manifest_fails_readably_on_either_storage_and_fetches_nothing(
    request: pytest.FixtureRequest, deployment: str
) -> None:
    running: Deployment = request.getfixturevalue(deployment)
    storage = running.env.get("VODKIT_STORAGE_URL", "http://u:p@127.0.0.1:9/vodkit")  # S3 when distributed
    bucket = "http://" + storage.split("@", 1)[1]
    target = f"{bucket}/hls/11111111-2222-3333-4444-555555555555/480p/seg_00000.ts"
    manifest = f"""<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-on-demand:2011" type="static"
     mediaPresentationDuration="PT6S" minBufferTime="PT1S"><Period><AdaptationSet mimeType="video/mp2t">
  <Representation id="1" bandwidth="1" width="320" height="240">
    <BaseURL>{target}</BaseURL><SegmentBase/></Representation>
  <Representation id="2" bandwidth="1" width="320" height="240">
    <BaseURL>file:/etc/passwd</BaseURL><SegmentBase/></Representation>
</AdaptationSet></Period></MPD>
"""
    client = Client(running.base_url, running.token("mallory"))

    status = await client.wait_until_settled(await send(client, "talk.mp4", manifest.encode()), timeout=30)

    assert status["status"] == "failed", status
    assert status["error"] == "a DASH manifest is not a video file"
    s3_log = running.logs[0].read_text() if deployment == "distributed" else ""
    assert "/hls/11111111-2222-3333-4444-555555555555/" not in s3_log


async def test_a_video_under_100_px_tall_completes_and_its_one_rung_plays(embedded: Deployment, tmp_path: Path) -> None:
    tiny = make_clip(tmp_path / "tiny.mp4", seconds=4, width=112, height=64, extra=["-b:v", "3M"])
    client = Client(embedded.base_url, embedded.token("alice"))

    status = await client.wait_until_settled(await send(client, tiny.name, tiny.read_bytes()))

    assert status["status"] == "completed", status
    assert status["qualities"] == {"64p": "ready"}
    await check_playback(status["playbackUrl"], clip_seconds=4.0, heights={"64p": 64})
