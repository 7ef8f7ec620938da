"""`vodkit upload`: create a video, send its chunks, optionally wait for it to be playable."""

from __future__ import annotations

import asyncio
import math
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

POLL_S = 1.0


class UploadFailed(Exception):
    pass


async def upload(base_url: str, user_token: str, path: Path, wait: bool) -> str:
    """Upload `path`; returns the videoId (and prints the playback URL with `wait`)."""
    size = (await asyncio.to_thread(path.stat)).st_size
    auth = {"Authorization": f"Bearer {user_token}"}
    async with aiohttp.ClientSession(base_url) as http:
        created = await _json(await http.post("/api/videos", json={"filename": path.name, "size": size}, headers=auth))
        video_id, chunk_size = str(created["videoId"]), int(created["chunkSize"])
        total = max(1, math.ceil(size / chunk_size))
        bar = ProgressBar(size)
        with path.open("rb") as source:
            for index in range(total):
                data = await asyncio.to_thread(source.read, chunk_size)
                form = aiohttp.FormData()
                form.add_field("videoId", video_id)
                form.add_field("chunkIndex", str(index))
                form.add_field("totalChunks", str(total))
                form.add_field("chunk", data, filename=path.name, content_type="application/octet-stream")
                await _json(
                    await http.post(
                        "/api/videos/upload", data=form, headers={"Authorization": f"Bearer {created['uploadToken']}"}
                    )
                )
                bar.advance(len(data))
        bar.close()
        print(video_id, flush=True)
        if wait:
            print(await _wait_until_done(http, video_id, auth), flush=True)
    return video_id


async def _wait_until_done(http: aiohttp.ClientSession, video_id: str, auth: dict[str, str]) -> str:
    while True:
        status = await _json(await http.get(f"/api/videos/{video_id}/status", headers=auth))
        if status["status"] == "completed":
            print(file=sys.stderr)
            return str(status["playbackUrl"])
        if status["status"] == "failed":
            raise UploadFailed(f"processing failed: {status['error']}")
        print(f"\r{status['status']} {status['progress']}%", end="", file=sys.stderr, flush=True)
        await asyncio.sleep(POLL_S)


async def _json(response: aiohttp.ClientResponse) -> Any:
    async with response:
        body = await response.json(content_type=None)
        if response.status >= 400:
            error = body.get("error", {}) if isinstance(body, dict) else {}
            raise UploadFailed(f"HTTP {response.status}: {error.get('message', body)}")
        return body


class ProgressBar:
    """A one-line progress bar on stderr with rate and ETA."""

    WIDTH = 30

    def __init__(self, total: int) -> None:
        self._total, self._done, self._started = total, 0, time.monotonic()

    def advance(self, n: int) -> None:
        self._done += n
        elapsed = max(time.monotonic() - self._started, 1e-6)
        rate = self._done / elapsed
        share = self._done / self._total if self._total else 1.0
        eta = (self._total - self._done) / rate if rate else 0.0
        filled = int(share * self.WIDTH)
        print(
            f"\r[{'#' * filled}{'.' * (self.WIDTH - filled)}] {share:6.1%} {rate / 1024**2:7.1f} MiB/s ETA {eta:5.0f}s",
            end="",
            file=sys.stderr,
            flush=True,
        )

    def close(self) -> None:
        print(file=sys.stderr, flush=True)
