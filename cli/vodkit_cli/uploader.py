"""`vodkit upload`: create a video (or resume one), send its chunks in parallel, optionally wait.

Chunks are read at their offsets (never the whole file in memory), carry their SHA-256, and are
retried on network errors and 5xx answers with exponential backoff (3 attempts from 1 s, the seed's
policy). An upload token that expires mid-upload is renewed. `--resume VIDEO_ID` asks the server
which chunks it holds and sends only the others.

A 429 is sent again after the `Retry-After` it names (3 attempts in all). `--wait` follows the live
list of the user's videos (`GET /api/videos/live`, one request a minute) and only where there is
none polls the status once a second, with If-None-Match so an unchanged status is a bodyless 304.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import hashlib
import io
import json
import math
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from vodkit_shared.bus import RetryPolicy

POLL_S = 1.0
RETRY = RetryPolicy(attempts=3, base_delay_s=1.0)
MAX_RETRY_AFTER_S = 900.0  # one default rate-limit window: a longer Retry-After is not believed
LIVE_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=120)
Sleep = Callable[[float], Awaitable[None]]
T = TypeVar("T")


class UploadFailed(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status  # the HTTP status that refused it, if one did


class Retryable(UploadFailed):
    """A network error or a 5xx: worth sending again."""


class RateLimited(UploadFailed):
    """A 429: worth sending again once `retry_after_s` has passed."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message, 429)
        self.retry_after_s = retry_after_s


@dataclass
class Status:
    body: dict[str, Any]
    etag: str | None = None


@dataclass
class Grant:
    video_id: str
    token: str
    chunk_size: int


class Api:
    def __init__(self, http: aiohttp.ClientSession, user_token: str, sleep: Sleep = asyncio.sleep) -> None:
        self._http = http
        self.auth = {"Authorization": f"Bearer {user_token}"}
        self.sleep = sleep

    async def create(self, path: Path, size: int, sha256: str) -> Grant:
        body = {"filename": path.name, "size": size, "sha256": sha256}
        return _grant(await self.patiently(lambda: self.call("POST", "/api/videos", json=body, headers=self.auth)))

    async def renew(self, video_id: str) -> Grant:
        path = f"/api/videos/{video_id}/upload-token"
        return _grant(await self.patiently(lambda: self.call("POST", path, headers=self.auth)))

    async def stored_chunks(self, video_id: str) -> set[int]:
        path = f"/api/videos/{video_id}/upload"
        state = await self.patiently(lambda: self.call("GET", path, headers=self.auth))
        return set(state["uploadedChunks"])

    async def status(self, video_id: str, held: Status | None = None) -> Status:
        """The video's status; `held`, the last one, is sent as If-None-Match and kept on a 304."""
        headers = {**self.auth, **({"If-None-Match": held.etag} if held and held.etag else {})}
        path = f"/api/videos/{video_id}/status"
        body, etag = await self.patiently(lambda: self.exchange("GET", path, headers=headers))
        if body is None and held is not None:  # 304: what we hold is still the status
            return held
        return Status(dict(body), etag)

    async def send_chunk(self, grant: Grant, index: int, total: int, data: bytes) -> None:
        checksum = (await asyncio.to_thread(hashlib.sha256, data)).hexdigest()  # off the loop: 8 MiB
        auth = {"Authorization": f"Bearer {grant.token}"}

        def send() -> Awaitable[Any]:  # a form is sent once: each attempt builds its own
            form = _chunk_form(grant, index, total, checksum, data)
            return self.call("POST", "/api/videos/upload", data=form, headers=auth)

        await self.patiently(send)

    async def patiently(self, send: Callable[[], Awaitable[T]]) -> T:
        """`send()`, sent again after the Retry-After of a 429 (RETRY.attempts in all)."""
        for attempt in range(1, RETRY.attempts + 1):
            try:
                return await send()
            except RateLimited as refused:
                if attempt == RETRY.attempts:
                    raise UploadFailed(f"{refused} (still refused after {attempt} attempts)", 429) from None
                await self.sleep(refused.retry_after_s)
        raise AssertionError("unreachable")

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        return (await self.exchange(method, path, **kwargs))[0]

    async def exchange(self, method: str, path: str, **kwargs: Any) -> tuple[Any, str | None]:
        """The answer's JSON body (None for a 304) and ETag; Retryable, RateLimited or UploadFailed otherwise."""
        try:
            async with self._http.request(method, path, **kwargs) as response:
                body = None if response.status == 304 else await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise Retryable(f"{method} {path}: {error or type(error).__name__}") from None
        if response.status >= 500:
            raise Retryable(f"{method} {path}: HTTP {response.status}")
        if response.status >= 400:
            raise _refusal(response, body)
        return body, response.headers.get("ETag")

    @contextlib.asynccontextmanager
    async def live(self) -> AsyncIterator[aiohttp.StreamReader | None]:
        """The live list's stream (server-sent events), or None where the gateway has none."""
        try:
            async with self._http.get("/api/videos/live", headers=self.auth, timeout=LIVE_TIMEOUT) as response:
                if response.status >= 500 and response.status != 501:
                    raise Retryable(f"GET /api/videos/live: HTTP {response.status}")
                if response.status >= 400 and response.status not in (404, 405, 501):
                    raise _refusal(response, await response.json(content_type=None))
                yield response.content if response.content_type == "text/event-stream" else None
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise Retryable(f"GET /api/videos/live: {error or type(error).__name__}") from None


def _refusal(response: aiohttp.ClientResponse, body: Any) -> UploadFailed:
    problem = body.get("error", {}) if isinstance(body, dict) else {}
    message = f"HTTP {response.status} {problem.get('code', '')}: {problem.get('message', body)}"
    if response.status == 429:
        return RateLimited(message, retry_after(response.headers.get("Retry-After")))
    return UploadFailed(message, response.status)


def retry_after(value: str | None) -> float:
    """Seconds a Retry-After asks for (delta-seconds or an HTTP date); 1 s if it says nothing usable."""
    if value is None:
        return 1.0
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return 1.0
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S) if math.isfinite(seconds) else 1.0


def _chunk_form(grant: Grant, index: int, total: int, checksum: str, data: bytes) -> aiohttp.FormData:
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
    return form


def _grant(body: dict[str, Any]) -> Grant:
    return Grant(str(body["videoId"]), str(body["uploadToken"]), int(body["chunkSize"]))


async def upload(
    base_url: str,
    user_token: str,
    path: Path,
    wait: bool,
    resume: str | None = None,
    parallel: int = 4,
    sleep: Sleep = asyncio.sleep,
) -> str:
    """Upload `path` (or finish uploading it to video `resume`); returns the videoId."""
    size = (await asyncio.to_thread(path.stat)).st_size
    async with aiohttp.ClientSession(base_url, timeout=aiohttp.ClientTimeout(total=600)) as http:
        api = Api(http, user_token, sleep)
        if resume:
            grant, stored = await api.renew(resume), await api.stored_chunks(resume)
        else:
            grant, stored = await api.create(path, size, await file_sha256(path)), set()
        print(grant.video_id, flush=True)
        await ChunkSender(api, grant, path, size, parallel).send_all(stored)
        if wait:
            print(await wait_until_done(api, grant.video_id), flush=True)
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


SETTLED = ("completed", "failed")


async def wait_until_done(api: Api, video_id: str) -> str:
    """The playback URL once the video has completed; UploadFailed if it failed."""
    await _follow_live(api, video_id)
    status = await _poll_until_settled(api, video_id)  # one request if the stream saw it settle
    finish_line()
    if status["status"] == "failed":
        raise UploadFailed(f"processing failed: {status['error']}")
    return str(status["playbackUrl"])  # signed: the live list carries no playback URLs


async def _follow_live(api: Api, video_id: str) -> None:
    """Until the live list shows the video settled; at once where there is no list to follow."""
    while True:
        try:
            outcome = await api.patiently(lambda: _watch_once(api, video_id))
        except Retryable:
            return  # the stream broke or cannot be opened: polling takes over, and retries
        if outcome != "ended":
            return


async def _watch_once(api: Api, video_id: str) -> str:
    """One live stream: `settled`, `ended` (the server closed it; open another) or `unavailable`."""
    async with api.live() as stream:
        if stream is None:
            return "unavailable"
        seen = False
        async for event, data in server_sent_events(stream):
            videos = json.loads(data).get("videos", []) if event == "videos" else []
            entry = next((v for v in videos if isinstance(v, dict) and v.get("videoId") == video_id), None)
            if event == "videos" and entry is None:
                return "unavailable"  # not in the caller's list: the status route says why
            if entry is not None:
                seen = True
                show(f"{entry['status']} {entry['progress']}%")
                if entry["status"] in SETTLED:
                    return "settled"
        return "ended" if seen else "unavailable"


async def server_sent_events(stream: aiohttp.StreamReader) -> AsyncIterator[tuple[str, str]]:
    """(event, data) of each server-sent event, however the bytes arrive split.

    Read in blocks, not lines: one `data:` line holds the whole list, longer than readline allows.
    """
    buffer, event, data = b"", "message", list[str]()
    async for block in stream.iter_any():
        *lines, buffer = (buffer + block).split(b"\n")
        for line in (raw.rstrip(b"\r").decode() for raw in lines):
            if not line and data:
                yield event, "\n".join(data)
            if not line:
                event, data = "message", []
            name, _, value = line.partition(":")
            if name == "event":
                event = value.removeprefix(" ")
            elif name == "data":
                data.append(value.removeprefix(" "))


async def _poll_until_settled(api: Api, video_id: str) -> dict[str, Any]:
    """Poll the status once every POLL_S, as If-None-Match; network errors retried as the seed's policy says."""
    held: Status | None = None
    failures = 0
    while True:
        try:
            held = await api.status(video_id, held)
        except Retryable:
            failures += 1
            if failures == RETRY.attempts:
                raise
            await api.sleep(RETRY.delay_before(failures + 1))
            continue
        failures = 0
        if held.body["status"] in SETTLED:
            return held.body
        show(f"{held.body['status']} {held.body['progress']}%")
        await api.sleep(POLL_S)


@dataclass
class _Line:
    open: bool = False  # whether stderr's last line awaits its newline (progress is drawn with \r)


_STDERR = _Line()


def show(text: str) -> None:
    print(f"\r{text}", end="", file=sys.stderr, flush=True)
    _STDERR.open = True


def finish_line() -> None:
    """End the progress line, so what comes next (an error) has a line of its own."""
    if _STDERR.open:
        print(file=sys.stderr, flush=True)
        _STDERR.open = False


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
        show(f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {share:6.1%} {rate / 1024**2:7.1f} MiB/s ETA {eta:5.0f}s")

    def close(self) -> None:
        finish_line()
