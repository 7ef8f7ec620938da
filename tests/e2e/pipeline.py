"""Driving a running vodkit over HTTP exactly as an API consumer would, and checking its HLS."""

from __future__ import annotations

import asyncio
import io
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import aiohttp

VODKIT = [sys.executable, "-m", "vodkit_cli.main"]


@dataclass
class Reply:
    status: int
    body: Any


@dataclass
class Client:
    base: str
    user_token: str
    statuses: list[dict[str, Any]] = field(default_factory=list)

    async def call(
        self, method: str, path: str, token: str | None = None, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> Reply:
        headers = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, self.base + path, headers=headers, **kwargs) as response,
        ):
            body = await response.json(content_type=None) if response.content_length != 0 else None
            return Reply(response.status, body)

    async def create(self, filename: str, size: int, **fields: Any) -> dict[str, Any]:
        body = {"filename": filename, "size": size, **fields}
        reply = await self.call("POST", "/api/videos", self.user_token, json=body)
        assert reply.status == 201, reply.body
        return dict(reply.body)

    async def send_chunk(
        self, upload_token: str, video_id: str, index: int, total: int, data: bytes, **overrides: str
    ) -> Reply:
        form = aiohttp.FormData()
        fields = {"videoId": video_id, "chunkIndex": str(index), "totalChunks": str(total), **overrides}
        for name, value in fields.items():
            form.add_field(name, value)
        form.add_field("chunk", io.BytesIO(data), filename="chunk.bin", content_type="application/octet-stream")
        return await self.call("POST", "/api/videos/upload", upload_token, data=form)

    async def upload(self, clip: Path, **fields: Any) -> str:
        """Create a video (with `fields` beside its name and size) and send the clip in several chunks;
        returns the videoId."""
        data = clip.read_bytes()
        created = await self.create(clip.name, len(data), **fields)
        chunk_size = int(created["chunkSize"])
        total = math.ceil(len(data) / chunk_size)
        assert total >= 3, "the clip should take several chunks"
        for index in range(total):
            reply = await self.send_chunk(
                created["uploadToken"],
                created["videoId"],
                index,
                total,
                data[index * chunk_size : (index + 1) * chunk_size],
            )
            assert reply.status == 200, reply.body
            assert reply.body == {
                "status": "success",
                "uploadedChunks": list(range(index + 1)),
                "nextChunk": index + 1 if index + 1 < total else None,
            }
        return str(created["videoId"])

    async def wait_until_settled(self, video_id: str, timeout: float = 180) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reply = await self.call("GET", f"/api/videos/{video_id}/status", self.user_token)
            assert reply.status == 200, reply.body
            self.statuses.append(reply.body)
            if reply.body["status"] in ("completed", "failed"):
                return dict(reply.body)
            await asyncio.sleep(0.25)
        raise AssertionError(f"video {video_id} still {self.statuses[-1]} after {timeout}s")


async def wait_for_quality(client: Client, video_id: str, rungs: set[str], timeout: float = 120) -> dict[str, Any]:
    """Quality is measured after the renditions are announced; wait until every rung has it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = await client.call("GET", f"/api/videos/{video_id}", client.user_token)
        assert reply.status == 200, reply.body
        if set(reply.body["quality"]) == rungs:
            return dict(reply.body["quality"])
        await asyncio.sleep(0.25)
    raise AssertionError(f"quality of {video_id} not measured after {timeout}s")


async def check_artwork(client: Client, video_id: str) -> None:
    """The poster is a JPEG; the storyboard's VTT points into sprite sheets that are served too."""
    details = (await client.call("GET", f"/api/videos/{video_id}", client.user_token)).body
    status, poster, content_type = await fetch(details["posterUrl"])
    assert (status, content_type, poster[:2]) == (200, "image/jpeg", b"\xff\xd8")
    status, vtt, content_type = await fetch(details["storyboardUrl"])
    assert (status, content_type) == (200, "text/vtt")  # charset=utf-8 is a parameter, not the type
    cues = [line for line in vtt.decode().splitlines() if "#xywh=" in line]
    assert len(cues) == 4  # 8 s, a thumbnail every 2 s
    sprite = details["storyboardUrl"].rsplit("/", 1)[0] + "/" + cues[0].split("#")[0]
    status, sheet, content_type = await fetch(sprite)
    assert (status, content_type, sheet[:2]) == (200, "image/jpeg", b"\xff\xd8")


async def get(url: str, headers: dict[str, str] | None = None, method: str = "GET") -> tuple[int, bytes, Any]:
    """Status, body and headers of one plain request (no token header: playback URLs carry theirs)."""
    async with aiohttp.ClientSession() as http, http.request(method, url, headers=headers or {}) as response:
        return response.status, await response.read(), response.headers


async def fetch(url: str) -> tuple[int, bytes, str]:
    """Status, body and media type (without parameters such as charset)."""
    status, body, headers = await get(url)
    return status, body, headers.get("Content-Type", "").split(";")[0]


def durations(playlist: str) -> list[float]:
    return [float(d) for d in re.findall(r"#EXTINF:([0-9.]+),", playlist)]


def probe_segment(data: bytes, suffix: str = ".ts") -> int:
    """Decode the whole segment with ffmpeg (fails on a broken one); returns its video height."""
    with tempfile.NamedTemporaryFile(suffix=suffix) as segment:
        segment.write(data)
        segment.flush()
        subprocess.run(["ffmpeg", "-v", "error", "-xerror", "-i", segment.name, "-f", "null", "-"], check=True)
        out = subprocess.run(
            ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_streams", "-of", "json", segment.name],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return int(json.loads(out)["streams"][0]["height"])


async def check_playback(playback_url: str, clip_seconds: float, heights: dict[str, int]) -> None:
    """The master lists exactly these rungs; every playlist is whole and each rung decodes at its height."""
    status, body, content_type = await fetch(playback_url)
    assert (status, content_type) == (200, "application/vnd.apple.mpegurl")
    master = body.decode()
    assert master.startswith("#EXTM3U")
    variants = re.findall(r"#EXT-X-STREAM-INF:(.*)\n(.*)", master)
    token = playback_url.split("?token=")[1]
    assert [uri for _, uri in variants] == [f"{rung}/playlist.m3u8?token={token}" for rung in heights]
    for attributes, uri in variants:
        assert re.search(r"BANDWIDTH=\d+", attributes)
        assert re.search(r'CODECS="avc1\.[0-9a-f]{6},mp4a\.40\.2"', attributes)
        rung = uri.split("/")[0]
        assert f"x{heights[rung]}," in attributes  # RESOLUTION=WxH
        playlist_url = urljoin(playback_url, uri)  # relative URIs resolve as a player resolves them
        status, body, _ = await fetch(playlist_url)
        playlist = body.decode()
        assert status == 200
        assert playlist.rstrip().endswith("#EXT-X-ENDLIST")
        assert abs(sum(durations(playlist)) - clip_seconds) < 0.1
        first_segment = next(line for line in playlist.splitlines() if line and not line.startswith("#"))
        status, data, content_type = await fetch(urljoin(playlist_url, first_segment))
        assert status == 200
        init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', playlist)
        if init:  # fMP4: the init segment carries the codec setup every fragment needs
            assert first_segment.split("?token=")[0].endswith(".m4s")
            assert content_type == "video/mp4"
            status, header, _ = await fetch(urljoin(playlist_url, init.group(1)))
            assert status == 200
            assert probe_segment(header + data, ".mp4") == heights[rung]
        else:
            assert content_type == "video/mp2t"
            assert probe_segment(data) == heights[rung]


def user_token(env: dict[str, str], user: str) -> str:
    return subprocess.run(
        [*VODKIT, "token", "--user", user], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


def service_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VODKIT_") or k.startswith("VODKIT_TEST_")}
    # every test talks from 127.0.0.1: budgets no test reaches, but for those of the rate-limit tests
    env.update({f"VODKIT_RATE_LIMIT_{kind}": "1000000" for kind in ("API", "READ", "UPLOAD", "PLAYBACK")})
    env.update({f"VODKIT_{k.upper()}": v for k, v in settings.items()})
    return env
