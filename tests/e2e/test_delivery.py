"""Secure delivery of a completed video: signed and rewritten playlists, scoped and expiring tokens,
ranges, content types and cache headers; then deletion."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Deployment
from tests.e2e.pipeline import Client, get
from vodkit_shared.tokens import Tokens

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def completed(embedded: Deployment, clip: Path) -> dict[str, Any]:
    """One video, uploaded and completed once for the whole module."""

    async def upload() -> dict[str, Any]:
        client = Client(embedded.base_url, embedded.token("alice"))
        video_id = await client.upload(clip)
        return {"videoId": video_id, **await client.wait_until_settled(video_id)}

    status = asyncio.run(upload())
    assert status["status"] == "completed", status
    return status


def secret(deployment: Deployment) -> str:
    return (Path(deployment.env["VODKIT_DATA_DIR"]) / "auth-secret").read_text().strip()


async def test_every_uri_in_the_playlists_carries_the_videos_token(completed: dict[str, Any]) -> None:
    master_url = completed["playbackUrl"]
    token = master_url.split("?token=")[1]
    base = master_url.split("master.m3u8")[0]
    status, body, headers = await get(master_url)
    assert status == 200
    assert headers["Content-Type"] == "application/vnd.apple.mpegurl"
    assert headers["Cache-Control"] == "public, max-age=30"
    variants = [line for line in body.decode().splitlines() if line and not line.startswith("#")]
    assert variants == [f"720p/playlist.m3u8?token={token}", f"480p/playlist.m3u8?token={token}"]
    for variant in variants:
        status, body, _ = await get(base + variant)
        assert status == 200
        segments = [line for line in body.decode().splitlines() if line and not line.startswith("#")]
        assert segments
        assert all(re.fullmatch(rf"seg_[0-9]{{5}}\.ts\?token={re.escape(token)}", s) for s in segments)
        rung = variant.split("/")[0]
        status, data, headers = await get(f"{base}{rung}/{segments[0]}")
        assert status == 200
        assert headers["Content-Type"] == "video/mp2t"
        assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert headers["Accept-Ranges"] == "bytes"
        assert data[0] == 0x47  # an MPEG-TS sync byte


async def test_ranges_of_a_segment(completed: dict[str, Any]) -> None:
    master_url = completed["playbackUrl"]
    token = master_url.split("?token=")[1]
    segment = master_url.replace("master.m3u8", "720p/seg_00000.ts")
    _, whole, _ = await get(segment)
    status, part, headers = await get(segment, {"Range": "bytes=188-375"})
    assert (status, part) == (206, whole[188:376])
    assert headers["Content-Range"] == f"bytes 188-375/{len(whole)}"
    status, part, _ = await get(segment, {"Range": "bytes=-188"})
    assert (status, part) == (206, whole[-188:])
    status, body, headers = await get(segment, {"Range": f"bytes={len(whole)}-"})
    assert status == 416
    assert headers["Content-Range"] == f"bytes */{len(whole)}"
    status, body, headers = await get(segment, method="HEAD")
    assert (status, body, int(headers["Content-Length"])) == (200, b"", len(whole))
    assert token


async def test_a_token_opens_only_its_own_video_and_only_until_it_expires(
    embedded: Deployment, completed: dict[str, Any]
) -> None:
    tokens = Tokens(secret(embedded))
    video = completed["videoId"]
    master = f"{embedded.base_url}/videos/{video}/master.m3u8"
    other_video = "0b6c1f3e-5d8a-4c2e-9f1a-2b3c4d5e6f70"
    assert (await get(f"{master}?token={tokens.playback_token(video, 60)}"))[0] == 200
    refused = {
        "another video's token": tokens.playback_token(other_video, 60),
        "expired": tokens.playback_token(video, -10),
        "altered": tokens.playback_token(video, 60)[:-3] + "abc",
        "an upload token": tokens.upload_token(video, "alice")[0],
        "a user token": tokens.user_token("alice"),
    }
    for reason, token in refused.items():
        status, body, _ = await get(f"{master}?token={token}")
        assert status == 403, reason
        assert b'"forbidden"' in body, reason
    # A's token on B's path, for every kind of object
    token_a = completed["playbackUrl"].split("?token=")[1]
    for path in ("master.m3u8", "720p/playlist.m3u8", "720p/seg_00000.ts", "poster.jpg"):
        assert (await get(f"{embedded.base_url}/videos/{other_video}/{path}?token={token_a}"))[0] == 403, path


async def test_artwork_is_signed_too(embedded: Deployment, completed: dict[str, Any]) -> None:
    client = Client(embedded.base_url, embedded.token("alice"))
    details = (await client.call("GET", f"/api/videos/{completed['videoId']}", client.user_token)).body
    status, _, headers = await get(details["posterUrl"])
    assert (status, headers["Content-Type"]) == (200, "image/jpeg")
    status, vtt, headers = await get(details["storyboardUrl"])
    assert headers["Content-Type"].startswith("text/vtt")
    sprite = next(line for line in vtt.decode().splitlines() if line.startswith("sprite_"))
    assert "?token=" in sprite.split("#xywh=")[0]
    sprite_url = details["storyboardUrl"].rsplit("/", 1)[0] + "/" + sprite.split("#")[0]
    assert (await get(sprite_url))[0] == 200


async def test_deleting_removes_every_object_and_is_idempotent(embedded: Deployment, clip: Path) -> None:
    client = Client(embedded.base_url, embedded.token("alice"))
    video = await client.upload(clip)
    assert (await client.wait_until_settled(video))["status"] == "completed"
    playback_url = (await client.call("GET", f"/api/videos/{video}/status", client.user_token)).body["playbackUrl"]
    bob = Client(embedded.base_url, embedded.token("bob"))
    assert (await bob.call("DELETE", f"/api/videos/{video}", bob.user_token)).status == 403

    assert (await client.call("DELETE", f"/api/videos/{video}", client.user_token)).status == 204
    objects = Path(embedded.env["VODKIT_DATA_DIR"]) / "objects"
    left = [p for p in objects.rglob("*") if video in str(p) and p.is_file()]
    assert left == []
    assert (await client.call("GET", f"/api/videos/{video}", client.user_token)).status == 404
    assert (await get(playback_url))[0] == 404
    assert (await client.call("DELETE", f"/api/videos/{video}", client.user_token)).status == 404
