"""Rate limits per client and route class (api, upload, playback), shared by every gateway replica.

Counters live in the metadata store that all replicas already share, and each request adds one
with an atomic increment, so N replicas enforce one budget rather than N budgets. The window
slides: the estimate is this window's count plus the previous window's, weighted by how much
of it still overlaps the last `window_s` seconds (no burst of twice the budget at a boundary).

The client is the peer address, or the address `trusted_proxy_hops` proxies back in
X-Forwarded-For when the gateway runs behind a load balancer that appends to it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from vodkit_shared.metadata import Collection
from vodkit_shared.service import ApiError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Budget:
    requests: int
    window_s: float


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_s: int  # seconds until the current window ends

    def headers(self, budget: Budget) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_s),
            "RateLimit-Policy": f"{self.limit};w={int(budget.window_s)}",
        }


class RateLimiter:
    def __init__(
        self, counters: Collection, budgets: dict[str, Budget], clock: Callable[[], float] = time.time
    ) -> None:
        self._counters = counters
        self._budgets = budgets
        self._clock = clock

    def budget(self, route_class: str) -> Budget:
        return self._budgets[route_class]

    async def hit(self, route_class: str, client: str) -> Decision:
        """Count one request of `client` in `route_class` and say whether it is within budget."""
        budget = self._budgets[route_class]
        now = self._clock()
        window = int(now // budget.window_s)
        elapsed = now / budget.window_s - window  # share of the current window gone by
        current = await self._counters.increment(
            f"{route_class}:{client}:{window}", "count", 1, {"window": window, "class": route_class, "client": client}
        )
        previous_doc = await self._counters.get(f"{route_class}:{client}:{window - 1}")
        previous = int(previous_doc["count"]) if previous_doc else 0
        estimate = current + previous * (1 - elapsed)
        limit = budget.requests
        if estimate <= limit:
            reset_s = math.ceil((1 - elapsed) * budget.window_s)
        else:
            reset_s = math.ceil(_wait_windows(limit, current, previous, elapsed) * budget.window_s)
        return Decision(estimate <= limit, limit, max(0, int(limit - estimate)), max(1, reset_s))

    async def forget_old_windows(self) -> int:
        """Delete counters no estimate reads any more (two windows back); returns how many."""
        removed = 0
        for route_class, budget in self._budgets.items():
            stale = int(self._clock() // budget.window_s) - 2
            for doc in await self._counters.find("window", stale):
                if doc.get("class") == route_class:
                    removed += await self._counters.delete(_key(doc, stale))
        return removed


def _wait_windows(limit: int, current: int, previous: int, elapsed: float) -> float:
    """Windows to wait, with no more requests, until one more request fits the budget."""
    if current + 1 <= limit:  # the previous window's weight fades within this window
        return (1 - (limit - current - 1) / previous) - elapsed
    # only in the next window, once this window's count has faded enough
    return (1 - elapsed) + (1 - (limit - 1) / current)


def _key(doc: dict[str, object], window: int) -> str:
    return f"{doc['class']}:{doc['client']}:{window}"


RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)
PROXY_HOPS = web.AppKey("trusted_proxy_hops", int)


def route_class(request: web.Request) -> str | None:
    """Which budget a request draws on; None for health checks, metrics and the web page."""
    path = request.path
    if path.startswith("/videos/"):
        return "playback"
    if path.startswith("/api/uploads") or path == "/api/videos/upload" or path.endswith("/upload"):
        return "upload"
    if path.startswith("/api/") and path != "/api/openapi.json":
        return "api"
    return None


def client_address(request: web.Request, trusted_hops: int) -> str:
    forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",") if part.strip()]
    if trusted_hops and len(forwarded) >= trusted_hops:
        return forwarded[-trusted_hops]
    return request.remote or "unknown"


@web.middleware
async def rate_limits(request: web.Request, handler: Handler) -> web.StreamResponse:
    limiter = request.app.get(RATE_LIMITER)
    kind = route_class(request)
    if limiter is None or kind is None or request.method == "OPTIONS":
        return await handler(request)
    decision = await limiter.hit(kind, client_address(request, request.app[PROXY_HOPS]))
    headers = decision.headers(limiter.budget(kind))
    if not decision.allowed:
        raise ApiError(
            429,
            "rate_limited",
            f"too many {kind} requests: at most {decision.limit} per {int(limiter.budget(kind).window_s)} s",
            headers={**headers, "Retry-After": str(decision.reset_s)},
        )
    try:
        response = await handler(request)
    except ApiError as error:
        error.headers.update(headers)
        raise
    if not response.prepared:
        response.headers.update(headers)
    return response
