"""No object outlives its video: an ended video's upload token takes nothing, and its work stops and leaves nothing."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import Deployment
from tests.e2e.pipeline import Client
from tests.support import eventually, make_clip
from vodkit_shared.bus import open_bus
from vodkit_shared.events import Envelope, VideoFailed
from vodkit_shared.storage import open_storage

pytestmark = pytest.mark.e2e
NOT_A_VIDEO = b"just some text, certainly not a video\n" * 64


def files_of(deployment: Deployment, video_id: str) -> list[Path]:
    """Every file of the video in the embedded data dir: objects in every tier (and chunks)."""
    data = Path(deployment.env["VODKIT_DATA_DIR"])
    return [path for path in data.rglob("*") if video_id in str(path) and path.is_file()]


async def test_an_upload_token_takes_nothing_once_its_video_failed_or_was_deleted(embedded: Deployment) -> None:
    alice = Client(embedded.base_url, embedded.token("alice"))
    created = await alice.create("notes.mp4", len(NOT_A_VIDEO))
    token, video_id = created["uploadToken"], created["videoId"]
    assert (await alice.send_chunk(token, video_id, 0, 1, NOT_A_VIDEO)).status == 200
    assert (await alice.wait_until_settled(video_id, timeout=60))["status"] == "failed"

    again = await alice.send_chunk(token, video_id, 0, 1, NOT_A_VIDEO)
    assert (again.status, again.body["error"]["code"]) == (409, "upload_closed"), again.body
    assert (await alice.call("DELETE", f"/api/videos/{video_id}", alice.user_token)).status == 204
    again = await alice.send_chunk(token, video_id, 0, 1, NOT_A_VIDEO)
    assert (again.status, again.body["error"]["code"]) == (409, "upload_closed"), again.body
    await asyncio.sleep(1)  # anything still in flight lands, or does not
    assert files_of(embedded, video_id) == []


def transcodes_running() -> list[str]:
    found = subprocess.run(["pgrep", "-af", "vodkit-transcode-"], capture_output=True, text=True, check=False)
    return [line for line in found.stdout.splitlines() if "ffmpeg" in line]


async def test_a_video_that_fails_mid_encode_stops_its_ffmpeg_and_leaves_no_objects(
    distributed: Deployment, tmp_path: Path
) -> None:
    """Another stage (or an operator) fails the video while the transcoder encodes it: every service lets go."""
    clip = await asyncio.to_thread(make_clip, tmp_path / "long.mp4", 40, 1280, 720)
    alice = Client(distributed.base_url, distributed.token("alice"))
    video_id = await alice.upload(clip)

    async def encoding() -> bool:
        body = (await alice.call("GET", f"/api/videos/{video_id}/status", alice.user_token)).body
        return bool(body["progress"] > 0 and transcodes_running())

    await eventually(encoding, timeout=90, interval=0.2)
    bus = await open_bus(distributed.env["VODKIT_BUS_URL"], distributed.env["VODKIT_BUS_EXCHANGE"])
    try:
        failed = VideoFailed(stage="operator", reason="stopped by the test")
        await bus.publish(Envelope.wrap(failed, video_id=video_id))
    finally:
        await bus.close()
    assert (await alice.wait_until_settled(video_id, timeout=30))["status"] == "failed"
    await eventually(lambda: not transcodes_running(), timeout=10)

    storage = await open_storage(distributed.env["VODKIT_STORAGE_URL"])
    try:

        async def written_outputs() -> list[str]:
            kinds = ("renditions", "artwork", "hls")
            return [key for kind in kinds for key in await storage.keys(f"{kind}/{video_id}/")]

        async def nothing_written() -> bool:
            return await written_outputs() == []

        await eventually(nothing_written, timeout=20)
        await asyncio.sleep(2)  # a write in flight when the encode stopped is removed by its worker
        assert await written_outputs() == []
        assert await storage.keys(f"originals/{video_id}/") != []  # the original stays with its (failed) video
    finally:
        await storage.close()
