"""MP4 downloads: a video its owner made downloadable serves each rung's rendition as a file to save,
under the playback token, and stops as soon as the owner turns it off."""

from __future__ import annotations

import json
import struct
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import Deployment
from tests.e2e.pipeline import Client, get

pytestmark = pytest.mark.e2e


def top_level_boxes(data: bytes) -> list[str]:
    boxes, offset = [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
        boxes.append(kind.decode(errors="replace"))
        if size < 8:
            break
        offset += size
    return boxes


async def test_a_downloadable_video_serves_each_rung_as_an_mp4_file(
    embedded: Deployment, clip: Path, tmp_path: Path
) -> None:
    alice = Client(embedded.base_url, embedded.token("alice"))
    video_id = await alice.upload(clip, downloadable=True)
    assert (await alice.wait_until_settled(video_id))["status"] == "completed"
    details = (await alice.call("GET", f"/api/videos/{video_id}", alice.user_token)).body
    assert details["downloadable"] is True
    urls = details["downloadUrls"]
    assert sorted(urls) == ["480p", "720p"]

    status, body, headers = await get(urls["720p"])
    assert status == 200
    assert headers["Content-Type"] == "video/mp4"
    assert (
        headers["Content-Disposition"]
        == f"attachment; filename=\"{clip.stem}-720p.mp4\"; filename*=UTF-8''{clip.stem}-720p.mp4"
    )
    assert headers["Cache-Control"] == "private"  # no shared cache keeps what the owner may turn off
    boxes = top_level_boxes(body)
    assert boxes.index("moov") < boxes.index("mdat")  # faststart: it plays while it downloads
    saved = tmp_path / "saved.mp4"
    saved.write_bytes(body)
    entries = "stream=codec_type,height:format=duration"
    argv = ["ffprobe", "-v", "error", "-show_entries", entries, "-of", "json", str(saved)]
    probed = json.loads(subprocess.run(argv, check=True, capture_output=True, text=True).stdout)
    assert {s["codec_type"]: s.get("height") for s in probed["streams"]} == {"video": 720, "audio": None}
    assert float(probed["format"]["duration"]) == pytest.approx(8.0, abs=0.1)
    status, part, headers = await get(urls["480p"], {"Range": "bytes=0-99"})
    assert (status, len(part), headers["Content-Range"].split("/")[0]) == (206, 100, "bytes 0-99")

    bob = Client(embedded.base_url, embedded.token("bob"))
    other = await bob.upload(clip)
    await bob.wait_until_settled(other)
    bobs = (await bob.call("GET", f"/api/videos/{other}", bob.user_token)).body
    assert (bobs["downloadable"], bobs["downloadUrls"]) == (False, None)
    token = bobs["playbackUrl"].split("?token=")[1]
    status, body, _ = await get(f"{embedded.base_url}/videos/{other}/download/720p.mp4?token={token}")
    assert status == 403  # not downloadable
    assert json.loads(body)["error"]["code"] == "forbidden"
    status, _, _ = await get(f"{embedded.base_url}/videos/{video_id}/download/720p.mp4?token={token}")
    assert status == 403  # a token for another video

    reply = await alice.call("PATCH", f"/api/videos/{video_id}", alice.user_token, json={"downloadable": False})
    assert reply.status == 200
    assert (reply.body["downloadable"], reply.body["downloadUrls"], reply.body["visibility"]) == (
        False,
        None,
        "private",
    )
    status, _, _ = await get(urls["720p"])
    assert status == 403  # the URL handed out before is refused at once
    reply = await alice.call("PATCH", f"/api/videos/{video_id}", alice.user_token, json={})
    assert reply.status == 400
    assert reply.body["error"]["code"] == "bad_request"
