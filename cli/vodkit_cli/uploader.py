"""`vodkit upload`: create a video (or resume one), send its chunks in parallel, optionally wait.

Chunks are read at their offsets (never the whole file in memory), carry their SHA-256, and are
retried on network errors and 5xx answers with exponential backoff (3 attempts from 1 s, the seed's
policy). An upload token that expires mid-upload is renewed. `--resume VIDEO_ID` asks the server
which chunks it holds and sends only the others.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from vodkit_shared.bus import RetryPolicy

POLL_S = 1.0
RETRY = RetryPolicy(attempts=3, base_delay_s=1.0)


class UploadFailed(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status  # the HTTP status that refused it, if one did


class Retryable(Exception):
    """A network error or a 5xx: worth sending again."""


@dataclass
class Grant:
    video_id: str
    token: str
    chunk_size: int


class Api:
    def __init__(self, http: aiohttp.ClientSession, user_token: str) -> None:
        self._http = http
        self.auth = {"Authorization": f"Bearer {user_token}"}

    async def create(self, path: Path, size: int, sha256: str) -> Grant:
        body = {"filename": path.name, "size": size, "sha256": sha256}
        return _grant(await self.call("POST", "/api/videos", json=body, headers=self.auth))

    async def renew(self, video_id: str) -> Grant:
        return _grant(await self.call("POST", f"/api/videos/{video_id}/upload-token", headers=self.auth))

    async def stored_chunks(self, video_id: str) -> set[int]:
        state = await self.call("GET", f"/api/videos/{video_id}/upload", headers=self.auth)
        return set(state["uploadedChunks"])

    async def status(self, video_id: str) -> dict[str, Any]:
        return dict(await self.call("GET", f"/api/videos/{video_id}/status", headers=self.auth))

    async def send_chunk(self, grant: Grant, index: int, total: int, data: bytes) -> None:
        checksum = (await asyncio.to_thread(hashlib.sha256, data)).hexdigest()  # off the loop: 8 MiB
        form = aiohttp.FormData()
        for name, value in (
            ("videoId", grant.video_id),
            ("chunkIndex", str(index)),
            ("totalChunks", str(total)),
            ("checksum", checksum),
        ):
            form.add_field(name, value)
        # BytesIO, not bytes: aiohttp writes it in pieces instead of holding up the event loop
        form.add_field("chunk", io.BytesIO(data), filename="chunk", content_type="application/octet-stream")
        await self.call("POST", "/api/videos/upload", data=form, headers={"Authorization": f"Bearer {grant.token}"})

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            async with self._http.request(method, path, **kwargs) as response:
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise Retryable(f"{method} {path}: {error or type(error).__name__}") from None
        if response.status >= 500:
            raise Retryable(f"{method} {path}: HTTP {response.status}")
        if response.status >= 400:
            problem = body.get("error", {}) if isinstance(body, dict) else {}
            message = f"HTTP {response.status} {problem.get('code', '')}: {problem.get('message', body)}"
            raise UploadFailed(message, response.status)
        return body


def _grant(body: dict[str, Any]) -> Grant:
    return Grant(str(body["videoId"]), str(body["uploadToken"]), int(body["chunkSize"]))


async def upload(
    base_url: str, user_token: str, path: Path, wait: bool, resume: str | None = None, parallel: int = 4
) -> str:
    """Upload `path` (or finish uploading it to video `resume`); returns the videoId."""
    size = (await asyncio.to_thread(path.stat)).st_size
    async with aiohttp.ClientSession(base_url, timeout=aiohttp.ClientTimeout(total=600)) as http:
        api = Api(http, user_token)
        if resume:
            grant, stored = await api.renew(resume), await api.stored_chunks(resume)
        else:
            grant, stored = await api.create(path, size, await file_sha256(path)), set()
        print(grant.video_id, flush=True)
        await ChunkSender(api, grant, path, size, parallel).send_all(stored)
        if wait:
            print(await _wait_until_done(api, grant.video_id), flush=True)
    return grant.video_id


class ChunkSender:
    def __init__(self, api: Api, grant: Grant, path: Path, size: int, parallel: int) -> None:
        self._api, self._grant, self._path, self._size = api, grant, path, size
        self._parallel = parallel
        self.total = max(1, math.ceil(size / grant.chunk_size))

    def _span(self, index: int) -> tuple[int, int]:
        start = index * self._grant.chunk_size
        return start, min(self._grant.chunk_size, self._size - start)

    async def send_all(self, stored: set[int]) -> None:
        missing = [i for i in range(self.total) if i not in stored]
        bar = ProgressBar(self._size, done=self._size - sum(self._span(i)[1] for i in missing))
        if stored:
            print(f"resuming: {len(stored)} of {self.total} chunks already stored", file=sys.stderr)
        queue: asyncio.Queue[int] = asyncio.Queue()
        for index in missing:
            queue.put_nowait(index)
        fd = os.open(self._path, os.O_RDONLY)
        try:
            workers = [asyncio.create_task(self._worker(queue, fd, bar)) for _ in range(self._parallel)]
            try:
                await asyncio.gather(*workers)
            finally:
                for worker in workers:
                    worker.cancel()
        finally:
            os.close(fd)
        bar.close()

    async def _worker(self, queue: asyncio.Queue[int], fd: int, bar: ProgressBar) -> None:
        while not queue.empty():
            index = queue.get_nowait()
            start, length = self._span(index)
            data = await asyncio.to_thread(os.pread, fd, length, start)
            await self._send_with_retry(index, data)
            bar.advance(length)

    async def _send_with_retry(self, index: int, data: bytes) -> None:
        for attempt in range(1, RETRY.attempts + 1):
            try:
                await self._api.send_chunk(self._grant, index, self.total, data)
                return
            except Retryable as error:
                if attempt == RETRY.attempts:
                    raise UploadFailed(f"chunk {index} failed {attempt} times; last: {error}") from None
                await asyncio.sleep(RETRY.delay_before(attempt + 1))
            except UploadFailed as error:
                if error.status != 401 or attempt == RETRY.attempts:
                    raise
                self._grant = await self._api.renew(self._grant.video_id)  # the hour ran out mid-upload


async def file_sha256(path: Path) -> str:
    def digest() -> str:
        sha = hashlib.sha256()
        with path.open("rb") as source:
            while block := source.read(4 * 1024 * 1024):
                sha.update(block)
        return sha.hexdigest()

    return await asyncio.to_thread(digest)


async def _wait_until_done(api: Api, video_id: str) -> str:
    while True:
        status = await api.status(video_id)
        if status["status"] == "completed":
            print(file=sys.stderr)
            return str(status["playbackUrl"])
        if status["status"] == "failed":
            raise UploadFailed(f"processing failed: {status['error']}")
        print(f"\r{status['status']} {status['progress']}%", end="", file=sys.stderr, flush=True)
        await asyncio.sleep(POLL_S)


class ProgressBar:
    """A one-line progress bar on stderr with rate and ETA."""

    WIDTH = 30

    def __init__(self, total: int, done: int = 0) -> None:
        self._total, self._done, self._sent, self._started = total, done, 0, time.monotonic()

    def advance(self, n: int) -> None:
        self._done += n
        self._sent += n
        rate = self._sent / max(time.monotonic() - self._started, 1e-6)
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
