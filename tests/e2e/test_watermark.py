"""Watermarks over HTTP: a user's default is copied into each video created while it is set, and burned into
every rung; the PNG is refused unless it is one with transparency; a video's own is set only by its owner,
and only while it uploads."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.e2e.conftest import Deployment
from tests.e2e.pipeline import Client, get
from tests.e2e.test_tus import create as tus_create
from tests.watermark_pictures import COLOUR, PLACEMENT, assert_watermarked, frame, solid_png
from vodkit_shared.metadata import open_metadata
from vodkit_shared.watermarks import COLLECTION, Watermarks, video_key

pytestmark = pytest.mark.e2e
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + b"\x00" * 200
SETTINGS = {
    "position": PLACEMENT.position,
    "margin": str(PLACEMENT.margin),
    "scale": str(PLACEMENT.scale),
    "opacity": str(PLACEMENT.opacity),
}


def form(png: bytes, **fields: str) -> aiohttp.FormData:
    data = aiohttp.FormData()
    for name, value in {**SETTINGS, **fields}.items():
        data.add_field(name, value)
    data.add_field("file", png, filename="mark.png", content_type="image/png")
    return data


async def rendition_frames(client: Client, video_id: str, tmp_path: Path) -> dict[str, tuple[bytes, int, int]]:
    """Each rung's picture at 1 s, from its MP4 download."""
    details = (await client.call("GET", f"/api/videos/{video_id}", client.user_token)).body
    pictures = {}
    for rung, url in details["downloadUrls"].items():
        status, body, _ = await get(url)
        assert status == 200
        path = tmp_path / f"{video_id}-{rung}.mp4"
        path.write_bytes(body)
        width, height = size_of(path)
        pictures[rung] = (frame(path, width, height), width, height)
    return pictures


def size_of(path: Path) -> tuple[int, int]:
    argv = ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height", "-of", "json"]
    stream: dict[str, Any] = json.loads(subprocess.run([*argv, str(path)], check=True, capture_output=True).stdout)
    return int(stream["streams"][0]["width"]), int(stream["streams"][0]["height"])


async def test_the_default_watermark_is_burned_into_every_rung_of_videos_created_with_it(
    embedded: Deployment, clip: Path, tmp_path: Path
) -> None:
    alice = Client(embedded.base_url, embedded.token("carol"))
    put = await alice.call("PUT", "/api/watermark", alice.user_token, data=form(solid_png(50, 50, (*COLOUR, 255))))
    assert put.status == 200, put.body
    assert put.body == {
        "position": "bottom-right",
        "margin": 0.05,
        "scale": 0.2,
        "opacity": 0.6,
        "width": 50,
        "height": 50,
        "bytes": len(solid_png(50, 50, (*COLOUR, 255))),
        "updatedAt": put.body["updatedAt"],
    }
    assert (await alice.call("GET", "/api/watermark", alice.user_token)).body == put.body
    marked = await alice.upload(clip, downloadable=True)  # created with a copy of the default
    assert (await alice.call("DELETE", "/api/watermark", alice.user_token)).status == 204
    assert (await alice.call("GET", "/api/watermark", alice.user_token)).status == 404
    clean = await alice.upload(clip, downloadable=True)  # created with none
    for video_id in (marked, clean):
        assert (await alice.wait_until_settled(video_id))["status"] == "completed"
    with_mark = await rendition_frames(alice, marked, tmp_path)
    without = await rendition_frames(alice, clean, tmp_path)
    assert sorted(with_mark) == ["480p", "720p"]
    for rung, (picture, width, height) in with_mark.items():
        assert_watermarked(picture, without[rung][0], width, height)
    # the video's copy is the video's: it goes with it
    metadata = await open_metadata(f"sqlite:///{Path(embedded.env['VODKIT_DATA_DIR']) / 'vodkit.db'}")
    try:
        store = Watermarks(metadata.collection(COLLECTION))
        assert await store.get(video_key(marked)) is not None
        assert await store.get(video_key(clean)) is None
        assert (await alice.call("DELETE", f"/api/videos/{marked}", alice.user_token)).status == 204
        assert await store.get(video_key(marked)) is None
    finally:
        await metadata.close()


async def test_only_a_png_with_transparency_is_taken(embedded: Deployment) -> None:
    alice = Client(embedded.base_url, embedded.token("dave"))
    refusals = [(JPEG, "not a PNG"), (solid_png(8, 8, alpha=False), "no transparency")]
    refusals.append((solid_png(1024, 1), "at most 16 times"))  # it made a picture ffmpeg refused
    for refused, reason in refusals:
        reply = await alice.call("PUT", "/api/watermark", alice.user_token, data=form(refused))
        assert reply.status == 400, reply.body
        assert reason in reply.body["error"]["message"]
    too_big = await alice.call("PUT", "/api/watermark", alice.user_token, data=form(solid_png(8, 8), opacity="1.5"))
    assert too_big.status == 400
    wrong_type = await alice.call("PUT", "/api/watermark", alice.user_token, json={"file": "x"})
    assert wrong_type.status == 415
    assert (await alice.call("GET", "/api/watermark", alice.user_token)).status == 404  # nothing was stored


async def test_a_videos_own_watermark_is_its_owners_and_only_while_it_uploads(embedded: Deployment, clip: Path) -> None:
    alice, bob = Client(embedded.base_url, embedded.token("erin")), Client(embedded.base_url, embedded.token("frank"))
    created = await alice.create(clip.name, clip.stat().st_size)
    path = f"/api/videos/{created['videoId']}/watermark"
    mark = solid_png(16, 16)
    assert (await bob.call("PUT", path, bob.user_token, data=form(mark))).status == 403
    assert (await bob.call("DELETE", path, bob.user_token)).status == 403
    assert (await alice.call("PUT", path, alice.user_token, data=form(mark))).status == 200
    assert (await alice.call("DELETE", path, alice.user_token)).status == 204
    assert (await alice.call("PUT", path, alice.user_token, data=form(mark))).status == 200
    video_id = await alice.upload(clip)  # another video: this one is uploaded, then burned in
    assert (await alice.wait_until_settled(video_id))["status"] == "completed"
    path = f"/api/videos/{video_id}/watermark"
    after = await alice.call("PUT", path, alice.user_token, data=form(mark))
    assert after.status == 409, after.body
    assert "uploads" in after.body["error"]["message"]
    assert (await alice.call("DELETE", path, alice.user_token)).status == 409


async def test_a_video_created_by_tus_gets_a_copy_of_the_default_too(embedded: Deployment) -> None:
    grace = Client(embedded.base_url, embedded.token("grace"))
    assert (await grace.call("PUT", "/api/watermark", grace.user_token, data=form(solid_png(16, 16)))).status == 200
    video_id = (await tus_create(embedded, grace.user_token, 10)).rsplit("/", 1)[-1]
    assert (await grace.call("DELETE", "/api/watermark", grace.user_token)).status == 204  # the copy stays
    metadata = await open_metadata(f"sqlite:///{Path(embedded.env['VODKIT_DATA_DIR']) / 'vodkit.db'}")
    try:
        copy = await Watermarks(metadata.collection(COLLECTION)).get(video_key(video_id))
        assert copy is not None
        assert copy.png_bytes == solid_png(16, 16)
    finally:
        await metadata.close()
