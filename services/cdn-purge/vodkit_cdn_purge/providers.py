"""CDN providers behind one interface. Generic HTTP cache nodes (Varnish, nginx with a purge module)
are the one built; Cloudflare and CloudFront would be further `CdnProvider`s.

Every stale path carries a token in its query string when viewers fetch it, so a cache may hold
one copy per token (playlists always: the origin writes the token into them; segments too, unless
the cache keys them by path as deploy/edge/varnish/vodkit.vcl does). BAN (the default) sends one
regular expression per node that matches the paths with any query string: every copy goes, in
one request. PURGE sends one request per exact path, which only reaches copies cached without a
query string.
"""

from __future__ import annotations

import asyncio
import re
import time
from abc import ABC, abstractmethod

import aiohttp
from prometheus_client import Counter, Histogram

PURGE_REQUESTS = Counter("vodkit_cdn_purge_requests_total", "Purge requests sent to cache nodes", ["outcome"])
PURGE_SECONDS = Histogram("vodkit_cdn_purge_duration_seconds", "Time to purge one event's paths on every node")


class PurgeFailed(Exception):
    """A cache node did not confirm the purge (the bus tries the event again)."""


class CdnProvider(ABC):
    @abstractmethod
    async def purge(self, paths: list[str]) -> int:
        """Invalidate `paths` (a path ending in '/' is everything below it); returns the nodes that confirmed."""


def ban_expression(paths: list[str]) -> str:
    """One regex for all `paths`, whatever query string follows them."""
    parts = [re.escape(p) + ".*" if p.endswith("/") else re.escape(p) + r"(\?.*)?" for p in paths]
    return "^(" + "|".join(parts) + ")$"


class HttpCacheNodes(CdnProvider):
    """Each node gets one request per event; a node that fails fails the event, and the bus's one retry
    policy (growing delays, then the dead-letter queue) tries the event again, every node included."""

    def __init__(
        self, nodes: list[str], client: aiohttp.ClientSession, method: str = "BAN", timeout_s: float = 10
    ) -> None:
        self._nodes = [node.rstrip("/") for node in nodes]
        self._client = client
        self._method = method
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def purge(self, paths: list[str]) -> int:
        started = time.monotonic()
        results = await asyncio.gather(*(self._purge_node(node, paths) for node in self._nodes), return_exceptions=True)
        PURGE_SECONDS.observe(time.monotonic() - started)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise PurgeFailed("; ".join(map(str, failures)))
        return len(self._nodes)

    async def _purge_node(self, node: str, paths: list[str]) -> None:
        if self._method == "BAN":
            await self._send(node, "BAN", "/", {"X-Ban-Url": ban_expression(paths)})
        else:
            for path in paths:
                await self._send(node, "PURGE", path, {})

    async def _send(self, node: str, method: str, path: str, headers: dict[str, str]) -> None:
        """One request; 404 to a PURGE means nothing was cached."""
        try:
            async with self._client.request(method, node + path, headers=headers, timeout=self._timeout) as reply:
                if reply.status < 300 or (method == "PURGE" and reply.status == 404):
                    PURGE_REQUESTS.labels("ok").inc()
                    return
                problem = f"{method} {node}{path}: HTTP {reply.status}"
        except (aiohttp.ClientError, TimeoutError) as error:
            problem = f"{method} {node}{path}: {error or type(error).__name__}"
        PURGE_REQUESTS.labels("failed").inc()
        raise PurgeFailed(problem)
