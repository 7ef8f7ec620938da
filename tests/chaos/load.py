"""A bounded load run: uploaders and players against one gateway, every request timed and its status kept."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from tests.chaos.cluster import Service, _chunk_form

PLAYER_PAUSE_S = 0.2  # between a player's requests: a busy player, far busier than one that plays in real time


class LoadRun:
    def __init__(self, base: str, token: str, clip: Path, playback: list[str], join: Callable[[str, str], str]) -> None:
        self.base, self.token, self.clip, self.playback, self.join = base, token, clip, playback, join
        self.timings: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[str, list[int]] = defaultdict(list)
        self.uploads = 0
        self.failures: list[str] = []

    async def go(self, uploaders: int, players: int, seconds: float, services: dict[str, Service]) -> dict[str, Any]:
        """Run for `seconds`; returns each service's (peak, last) resident memory in MiB."""
        until = time.monotonic() + seconds
        limits = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=limits, timeout=aiohttp.ClientTimeout(total=60)) as http:
            sampler = asyncio.create_task(self._sample(services, until))
            await asyncio.gather(
                *(self._uploader(http, until) for _ in range(uploaders)),
                *(self._player(http, self.playback[n % len(self.playback)], until) for n in range(players)),
            )
            last = await sampler
        return {name: (services[name].rss_peak_kib // 1024, kib // 1024) for name, kib in last.items()}

    async def _sample(self, services: dict[str, Service], until: float) -> dict[str, int]:
        last: dict[str, int] = {}
        while time.monotonic() < until:
            last = {name: service.sample_rss() for name, service in services.items()}
            await asyncio.sleep(1)
        return last

    async def _timed(self, http: aiohttp.ClientSession, kind: str, method: str, url: str, **kwargs: Any) -> Any:
        started = time.monotonic()
        try:
            async with http.request(method, url, **kwargs) as response:
                body = await response.read()
                self.statuses[kind].append(response.status)
        except (aiohttp.ClientError, TimeoutError) as error:
            self.failures.append(f"{kind}: {type(error).__name__}")
            return None
        self.timings[kind].append(time.monotonic() - started)
        return response.status, body, response.headers

    async def _uploader(self, http: aiohttp.ClientSession, until: float) -> None:
        data = self.clip.read_bytes()
        auth = {"Authorization": f"Bearer {self.token}"}
        while time.monotonic() < until:
            answer = await self._timed(
                http,
                "api: create",
                "POST",
                f"{self.base}/api/videos",
                json={"filename": "c.mp4", "size": len(data)},
                headers=auth,
            )
            if answer is None or answer[0] != 201:
                await asyncio.sleep(1)
                continue
            created = json.loads(answer[1])
            size = int(created["chunkSize"])
            total = -(-len(data) // size)
            upload_auth = {"Authorization": f"Bearer {created['uploadToken']}"}
            for index in range(total):
                form = _chunk_form(created["videoId"], index, total, data[index * size : (index + 1) * size])
                await self._timed(
                    http, "api: chunk", "POST", f"{self.base}/api/videos/upload", data=form, headers=upload_auth
                )
            self.uploads += 1
            for _ in range(3):  # a client polling its status once a second
                await self._timed(
                    http, "api: status", "GET", f"{self.base}/api/videos/{created['videoId']}/status", headers=auth
                )
                await asyncio.sleep(1)

    async def _player(self, http: aiohttp.ClientSession, master: str, until: float) -> None:
        while time.monotonic() < until:
            answer = await self._timed(http, "playlist: master", "GET", master)
            if answer is None or answer[0] != 200:
                await asyncio.sleep(1)
                continue
            variant = next(line for line in answer[1].decode().splitlines() if line and not line.startswith("#"))
            playlist_url = self.join(master, variant)
            answer = await self._timed(http, "playlist: rung", "GET", playlist_url)
            if answer is None or answer[0] != 200:
                continue
            segments = [line for line in answer[1].decode().splitlines() if line and not line.startswith("#")]
            for segment in segments:
                await asyncio.sleep(PLAYER_PAUSE_S)
                await self._timed(http, "segment", "GET", self.join(playlist_url, segment))
                if time.monotonic() >= until:
                    return
            await asyncio.sleep(PLAYER_PAUSE_S)

    def count_5xx(self) -> int:
        return sum(1 for codes in self.statuses.values() for code in codes if code >= 500)

    def requests(self) -> int:
        return sum(len(codes) for codes in self.statuses.values())

    def table(self) -> dict[str, Any]:
        rows = {}
        for kind in sorted(self.timings):
            times = sorted(self.timings[kind])
            rows[kind] = {
                "count": len(self.statuses[kind]),
                "5xx": sum(1 for code in self.statuses[kind] if code >= 500),
                "p50": round(1000 * _quantile(times, 0.5)),
                "p99": round(1000 * _quantile(times, 0.99)),
                "max": round(1000 * times[-1]) if times else 0,
            }
        return {"latencies": rows}

    def summary(self) -> dict[str, Any]:
        codes: dict[int, int] = defaultdict(int)
        for kind_codes in self.statuses.values():
            for code in kind_codes:
                codes[code] += 1
        return {
            "requests": self.requests(),
            "answers by status": dict(sorted(codes.items())),
            "requests with no answer (connection error, timeout)": len(self.failures),
            "uploads finished": self.uploads,
        }


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    return values[min(len(values) - 1, int(q * len(values)))]
