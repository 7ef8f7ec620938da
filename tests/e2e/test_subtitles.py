"""Subtitle tracks over HTTP (issue 17): added before and after processing, listed, removed, refused when
bad, and played back as an HLS subtitle rendition under the video's own token."""

from __future__ import annotations

import asyncio
import io
import json
import math
import re
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import aiohttp
import pytest

from tests.e2e.conftest import Deployment
from tests.e2e.pipeline import Client, Reply, durations, fetch
from tests.support import eventually
from vodkit_shared.tokens import Tokens

pytestmark = pytest.mark.e2e

# a cue from 2 s to 4 s: the browser test sees it at 3 s and not at 5 s
ENGLISH = b"WEBVTT\n\nhello\n00:00:02.000 --> 00:00:04.000\nHello from vodkit\n\n00:00:06.000 --> 00:00:07.500\nBye\n"
# added before the upload ends, so its last cue may run past the end (clipped when published)
FRENCH_SRT = (
    b"1\r\n00:00:01,000 --> 00:00:02,000\r\n<i>Bonjour</i> & bienvenue\r\n\r\n"
    b"2\r\n00:00:07,000 --> 00:00:30,000\r\nFin\r\n"
)


async def add_subtitles(
    client: Client,
    video_id: str,
    language: str,
    data: bytes,
    label: str = "English",
    default: str | None = None,
    token: str | None = None,
) -> Reply:
    form = aiohttp.FormData()
    form.add_field("language", language)
    form.add_field("label", label)
    if default is not None:
        form.add_field("default", default)
    form.add_field("file", io.BytesIO(data), filename="track.vtt", content_type="text/vtt")
    return await client.call("POST", f"/api/videos/{video_id}/subtitles", token or client.user_token, data=form)


async def wait_until_ready(client: Client, video_id: str, languages: set[str], timeout: float = 60) -> list[Any]:
    """The video's tracks, once exactly `languages` are listed and every one is ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = await client.call("GET", f"/api/videos/{video_id}/subtitles", client.user_token)
        assert reply.status == 200, reply.body
        tracks = reply.body["subtitles"]
        if {t["language"] for t in tracks} == languages and all(t["state"] == "ready" for t in tracks):
            return list(tracks)
        await asyncio.sleep(0.25)
    raise AssertionError(f"subtitles of {video_id} not ready: {reply.body}")


async def master_once_it_lists(playback_url: str, languages: list[str], timeout: float = 30) -> str:
    """The master, once its subtitle group lists exactly `languages` (the gateway marks tracks ready when the
    packager says so, so this only waits out a replica's view of the store)."""
    deadline = time.monotonic() + timeout
    while True:
        status, body, _ = await fetch(playback_url)
        assert status == 200
        master = body.decode()
        if re.findall(r'TYPE=SUBTITLES,.*LANGUAGE="([^"]+)"', master) == languages or time.monotonic() > deadline:
            return master
        await asyncio.sleep(0.25)


def first_pts(data: bytes, suffix: str) -> int:
    """The first video timestamp of a segment, 90 kHz (with its init segment before it, for fMP4)."""
    with tempfile.NamedTemporaryFile(suffix=suffix) as segment:
        segment.write(data)
        segment.flush()
        out = subprocess.run(
            ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_streams", "-of", "json", segment.name],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    return round(float(json.loads(out)["streams"][0]["start_time"]) * 90_000)


async def check_subtitle_rendition(playback_url: str, language: str) -> str:
    """The rendition's playlist matches the video's segments; each WebVTT segment maps its timestamps onto the
    video's first one. Returns every segment's text, joined."""
    status, body, _ = await fetch(playback_url)
    master = body.decode()
    uri = re.search(rf'TYPE=SUBTITLES,.*LANGUAGE="{language}".*URI="([^"]+)"', master)
    assert uri, master
    token = playback_url.split("?token=")[1]
    assert re.fullmatch(rf"subtitles/{language}/[0-9]{{8}}/playlist\.m3u8\?token={re.escape(token)}", uri.group(1))
    variant = re.findall(r"#EXT-X-STREAM-INF:(.*)\n(.*)", master)[-1]
    assert variant[0].endswith(',SUBTITLES="subs"')
    status, video_playlist, _ = await fetch(urljoin(playback_url, variant[1]))
    status, playlist, content_type = await fetch(urljoin(playback_url, uri.group(1)))
    assert (status, content_type) == (200, "application/vnd.apple.mpegurl")
    assert durations(playlist.decode()) == durations(video_playlist.decode())
    video_text = video_playlist.decode()
    first_video_segment = next(line for line in video_text.splitlines() if line and not line.startswith("#"))
    _, media, _ = await fetch(urljoin(urljoin(playback_url, variant[1]), first_video_segment))
    init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', video_text)
    if init:
        _, header, _ = await fetch(urljoin(urljoin(playback_url, variant[1]), init.group(1)))
        mpegts = first_pts(header + media, ".mp4")
    else:
        mpegts = first_pts(media, ".ts")
    texts = []
    playlist_url = urljoin(playback_url, uri.group(1))
    for line in playlist.decode().splitlines():
        if line and not line.startswith("#"):
            assert line.endswith(f"?token={token}")
            status, segment, content_type = await fetch(urljoin(playlist_url, line))
            assert (status, content_type) == (200, "text/vtt")
            text = segment.decode()
            assert text.startswith(f"WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:{mpegts},LOCAL:00:00:00.000\n"), text
            texts.append(text)
    return "\n".join(texts)


async def upload_chunks(client: Client, created: dict[str, Any], data: bytes) -> None:
    size = int(created["chunkSize"])
    total = math.ceil(len(data) / size)
    for index in range(total):
        chunk = data[index * size : (index + 1) * size]
        reply = await client.send_chunk(created["uploadToken"], created["videoId"], index, total, chunk)
        assert reply.status == 200, reply.body


@pytest.mark.parametrize("deployment", ["embedded", "distributed"])
async def test_subtitles_added_before_and_after_processing_play_and_go(
    request: pytest.FixtureRequest, deployment: str, clip: Path
) -> None:
    running: Deployment = request.getfixturevalue(deployment)  # distributed: RabbitMQ, S3, a packager of its own
    client = Client(running.base_url, running.token("alice"))
    data = clip.read_bytes()
    created = await client.create(clip.name, len(data))
    video_id = created["videoId"]

    early = await add_subtitles(client, video_id, "fr", FRENCH_SRT, label="Français")
    assert early.status == 202, early.body
    assert early.body == {"language": "fr", "label": "Français", "default": True, "state": "processing", "cues": 2}
    await upload_chunks(client, created, data)
    status = await client.wait_until_settled(video_id)
    assert status["status"] == "completed", status
    await wait_until_ready(client, video_id, {"fr"})
    french = await check_subtitle_rendition(status["playbackUrl"], "fr")
    assert "<i>Bonjour</i> &amp; bienvenue" in french
    assert "00:00:07.000 --> 00:00:08.000\nFin" in french  # clipped to the video's 8 s

    late = await add_subtitles(client, video_id, "en", ENGLISH, default="true")
    assert late.status == 202, late.body
    tracks = await wait_until_ready(client, video_id, {"en", "fr"})
    assert [(t["language"], t["default"]) for t in tracks] == [("en", True), ("fr", False)]
    master = await master_once_it_lists(status["playbackUrl"], ["en", "fr"])
    assert 'NAME="English",LANGUAGE="en",DEFAULT=YES' in master
    assert 'NAME="Français",LANGUAGE="fr",DEFAULT=NO' in master
    english = await check_subtitle_rendition(status["playbackUrl"], "en")
    assert "00:00:02.000 --> 00:00:04.000\nHello from vodkit" in english

    gone = await client.call("DELETE", f"/api/videos/{video_id}/subtitles/fr", client.user_token)
    assert gone.status == 204
    await wait_until_ready(client, video_id, {"en"})
    master = await master_once_it_lists(status["playbackUrl"], ["en"])
    assert 'LANGUAGE="fr"' not in master
    playlists = [  # whichever version fr had, its objects go, once the master no longer names them
        status["playbackUrl"].replace("master.m3u8", f"subtitles/fr/{revision:08d}/playlist.m3u8")
        for revision in range(1, 4)
    ]

    async def gone_everywhere() -> bool:
        return [(await fetch(playlist))[0] for playlist in playlists] == [404] * len(playlists)

    await eventually(gone_everywhere)
    again = await client.call("DELETE", f"/api/videos/{video_id}/subtitles/fr", client.user_token)
    assert again.status == 404


async def test_bad_files_others_and_other_videos_tokens_are_refused(embedded: Deployment, clip: Path) -> None:
    client = Client(embedded.base_url, embedded.token("alice"))
    video_id = await client.upload(clip)
    status = await client.wait_until_settled(video_id)
    assert status["status"] == "completed", status

    refused = {
        "malformed timestamp": (b"WEBVTT\n\n00:00:02.00 --> 00:00:04.000\nx\n", "line 3: malformed cue timing"),
        "ends before it starts": (b"1\n00:00:04,000 --> 00:00:02,000\nx\n", "ends before it starts"),
        "after the video": (b"WEBVTT\n\n00:00:07.000 --> 00:00:09.000\nx\n", "after the video's end"),
        "not UTF-8": (b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n\xe9t\xe9\n", "not UTF-8"),
        "no subtitles at all": (b"\x00\x00\x00\x18ftypmp42", "control characters"),
    }
    for reason, (data, message) in refused.items():
        reply = await add_subtitles(client, video_id, "en", data)
        assert reply.status == 400, (reason, reply.body)
        assert message in reply.body["error"]["message"], (reason, reply.body)
        assert "/tmp" not in reply.body["error"]["message"]
    bad_language = await add_subtitles(client, video_id, "english", ENGLISH)
    assert bad_language.status == 400, bad_language.body
    for label in ('say "hi"', "line\u2028break", "c1\u0085control"):
        bad_label = await add_subtitles(client, video_id, "en", ENGLISH, label=label)
        assert bad_label.status == 400, (label, bad_label.body)
    too_large = await add_subtitles(client, video_id, "en", ENGLISH + b"x" * (512 * 1024))
    assert too_large.status == 413, too_large.body
    assert (await client.call("GET", f"/api/videos/{video_id}/subtitles", client.user_token)).body == {"subtitles": []}

    bob = embedded.token("bob")
    assert (await add_subtitles(client, video_id, "en", ENGLISH, token=bob)).status == 403
    assert (await client.call("GET", f"/api/videos/{video_id}/subtitles", bob)).status == 403  # private
    assert (await add_subtitles(client, video_id, "en", ENGLISH)).status == 202
    await wait_until_ready(client, video_id, {"en"})
    same_name = await add_subtitles(client, video_id, "en-GB", ENGLISH)  # "English" too: NAMEs must differ
    assert same_name.status == 409, same_name.body
    assert (await client.call("DELETE", f"/api/videos/{video_id}/subtitles/en", bob)).status == 403

    secret = (Path(embedded.env["VODKIT_DATA_DIR"]) / "auth-secret").read_text().strip()
    other = Tokens(secret).playback_token("0b6c1f3e-5d8a-4c2e-9f1a-2b3c4d5e6f70", 60)
    base = f"{embedded.base_url}/videos/{video_id}/subtitles/en/00000001/"  # the first change that was taken
    for path in ("playlist.m3u8", "seg_00000.vtt"):
        assert (await fetch(f"{base}{path}?token={other}"))[0] == 403
        assert (await fetch(f"{base}{path}"))[0] == 403
    own = status["playbackUrl"].split("?token=")[1]
    assert (await fetch(f"{base}seg_00000.vtt?token={own}"))[0] == 200
