"""AES-128: an encrypted video's segments do not decode alone, do with the keys its playlists name, and the
keys go only to the video's own playback token, never into a cache; TS and fMP4, keys rotating."""

from __future__ import annotations

import asyncio
import base64
import re
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest

from tests.e2e.conftest import Deployment
from tests.e2e.pipeline import Client, fetch, get, probe_segment
from tests.e2e.test_delivery import secret
from vodkit_shared.content_keys import decrypt_segment
from vodkit_shared.tokens import Tokens

pytestmark = pytest.mark.e2e
ROTATION = 2  # the fixtures' VODKIT_KEY_ROTATION_SEGMENTS
_KEY = re.compile(r'^#EXT-X-KEY:METHOD=AES-128,URI="([^"]+)"$')


def decoded_frames(data: bytes, suffix: str) -> int:
    """Video frames ffmpeg decodes from the bytes: 0 where it cannot make sense of them."""
    with tempfile.NamedTemporaryFile(suffix=suffix) as media:
        media.write(data)
        media.flush()
        run = subprocess.run(
            ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
             "stream=nb_read_frames", "-of", "csv=p=0", media.name],
            capture_output=True, text=True,
        )  # fmt: skip
    count = run.stdout.strip().rstrip(",")
    return int(count) if run.returncode == 0 and count.isdigit() else 0


def keyed_segments(playlist: str) -> list[tuple[str, str]]:
    """(segment URI, the URI of the key it is under), in order."""
    key, segments = "", []
    for line in playlist.splitlines():
        if found := _KEY.match(line):
            key = found.group(1)
        elif line and not line.startswith("#"):
            segments.append((line, key))
    return segments


@pytest.fixture(scope="module", params=["embedded_encrypted", "embedded_encrypted_fmp4"], ids=["mpegts", "fmp4"])
def encrypted(request: pytest.FixtureRequest, long_clip: Path) -> tuple[Deployment, Client, dict[str, Any]]:
    """A 16 s video (3 segments of 6 s: keys 0, 0, 1), asked to be encrypted (the TS fixture's default too)."""
    running: Deployment = request.getfixturevalue(request.param)
    client = Client(running.base_url, running.token("alice"))

    async def upload() -> dict[str, Any]:
        video_id = await client.upload(long_clip, encryption="aes-128")
        status = await client.wait_until_settled(video_id)
        assert status["status"] == "completed", status
        return dict((await client.call("GET", f"/api/videos/{video_id}", client.user_token)).body)

    return running, client, asyncio.run(upload())


async def test_a_segment_plays_only_with_its_key(encrypted: tuple[Deployment, Client, dict[str, Any]]) -> None:
    _, client, details = encrypted
    assert details["encryption"] == "aes-128"
    assert not any(s["playable"] for s in client.statuses if s["status"] == "processing")  # no clear preview
    master_url = details["playbackUrl"]
    master = (await fetch(master_url))[1].decode()
    rungs = re.findall(r"^([0-9]+p)/playlist\.m3u8", master, re.MULTILINE)
    assert sorted(rungs) == ["480p", "720p"]
    keys_seen: dict[str, bytes] = {}
    for rung in rungs:
        playlist_url = urljoin(master_url, f"{rung}/playlist.m3u8?token={master_url.split('?token=')[1]}")
        playlist = (await fetch(playlist_url))[1].decode()
        init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', playlist)
        header = (await fetch(urljoin(playlist_url, init.group(1))))[1] if init else b""
        if init:  # the init segment is in the clear, before the first key
            assert playlist.index("#EXT-X-MAP") < playlist.index("#EXT-X-KEY")
        segments = keyed_segments(playlist)
        assert [key.split("?")[0] for _, key in segments] == [
            "../keys/00000.key",
            "../keys/00000.key",
            "../keys/00001.key",
        ]
        suffix = ".mp4" if init else ".ts"
        for sequence, (uri, key_uri) in enumerate(segments):
            status, sealed, _ = await fetch(urljoin(playlist_url, uri))
            assert status == 200
            assert decoded_frames(header + sealed, suffix) == 0  # alone, it does not decode
            status, key, headers = await get(urljoin(playlist_url, key_uri))
            assert (status, len(key), headers["Cache-Control"]) == (200, 16, "no-store")
            keys_seen.setdefault(key_uri.split("?")[0], key)
            assert key == keys_seen[key_uri.split("?")[0]]  # the rungs share their keys
            assert probe_segment(header + decrypt_segment(sealed, key, sequence), suffix) == int(rung[:-1])
    assert keys_seen["../keys/00000.key"] != keys_seen["../keys/00001.key"]  # rotated


async def test_a_key_goes_only_to_its_videos_unexpired_token(
    encrypted: tuple[Deployment, Client, dict[str, Any]],
) -> None:
    running, _, details = encrypted
    tokens = Tokens(secret(running))
    video = details["videoId"]
    key_url = f"{running.base_url}/videos/{video}/keys/00000.key"
    assert (await get(f"{key_url}?token={tokens.playback_token(video, 60)}"))[0] == 200
    refused = {
        "another video's token": tokens.playback_token(str(uuid.uuid4()), 60),
        "expired": tokens.playback_token(video, -10),
        "a user token": tokens.user_token("alice"),
    }
    for name, token in refused.items():
        status, body, _ = await get(f"{key_url}?token={token}")
        assert status == 403, name
        assert b'"forbidden"' in body, name
    assert (await get(key_url))[0] == 403
    assert (await get(f"{running.base_url}/videos/{video}/keys/00009.key?token={tokens.playback_token(video, 60)}"))[
        0
    ] == 404


async def test_a_thumbnail_of_an_encrypted_video_is_made_from_its_decrypted_segment(
    encrypted: tuple[Deployment, Client, dict[str, Any]],
) -> None:
    running, _, details = encrypted
    token = details["playbackUrl"].split("?token=")[1]
    for at in ("1.0", "13.0"):  # under key 0, then under key 1
        status, image, headers = await get(
            f"{running.base_url}/videos/{details['videoId']}/thumbnail.jpg?t={at}&w=320&token={token}"
        )
        assert (status, headers["Content-Type"], image[:2]) == (200, "image/jpeg", b"\xff\xd8"), at


async def test_a_deleted_videos_keys_go_with_it(embedded_encrypted: Deployment, clip: Path) -> None:
    client = Client(embedded_encrypted.base_url, embedded_encrypted.token("bob"))
    video = await client.upload(clip)  # encrypted by the deployment's default
    assert (await client.wait_until_settled(video))["status"] == "completed"
    token = Tokens(secret(embedded_encrypted)).playback_token(video, 60)
    key_url = f"{embedded_encrypted.base_url}/videos/{video}/keys/00000.key?token={token}"
    assert (await get(key_url))[0] == 200
    assert (await client.call("DELETE", f"/api/videos/{video}", client.user_token)).status == 204
    assert (await get(key_url))[0] == 404


async def test_a_tus_upload_chooses_its_encryption_in_its_metadata(embedded_encrypted_fmp4: Deployment) -> None:
    client = Client(embedded_encrypted_fmp4.base_url, embedded_encrypted_fmp4.token("carol"))

    def metadata(encryption: str) -> str:
        pairs = {"filename": "a.mp4", "encryption": encryption}
        return ",".join(f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in pairs.items())

    headers = {"Tus-Resumable": "1.0.0", "Upload-Length": "1000"}
    for asked in ("aes-128", "none"):
        reply = await client.call(
            "POST", "/api/uploads/", client.user_token, headers={**headers, "Upload-Metadata": metadata(asked)}
        )
        assert reply.status == 201, reply.body
    videos = (await client.call("GET", "/api/videos", client.user_token)).body["videos"]
    assert sorted(v["encryption"] for v in videos) == ["aes-128", "none"]
    reply = await client.call(
        "POST", "/api/uploads/", client.user_token, headers={**headers, "Upload-Metadata": metadata("rot13")}
    )
    assert (reply.status, reply.body["error"]["code"]) == (400, "bad_request")
    assert len((await client.call("GET", "/api/videos", client.user_token)).body["videos"]) == 2  # none made
