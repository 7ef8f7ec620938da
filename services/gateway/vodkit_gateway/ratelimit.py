"""Rate limits per client and route class (api, read, upload, playback, analytics), shared by every gateway replica.

The class is the matched operation's `rate_class` in the route table: `api` for writes (the seed's
100 per 15 minutes), `read` for the API's reads (status, details, lists, the live stream), sized
so a client polling a status once a second never reaches it, `upload` and `playback`. A request
no operation matches draws on `api` if its path is under the API.

The client is the user (`user:<sub>`) when the request carries a valid user token, or an upload
token, which names its user; otherwise (`ip:<address>`) the peer address, or the address
`trusted_proxy_hops` proxies back in X-Forwarded-For when the gateway runs behind a load balancer
that appends to it. The user token is verified once per request: the security check reads the same result.

Counters live in the metadata store that all replicas already share, and each request adds one
with an atomic increment, so N replicas enforce one budget rather than N budgets. The window
slides: the estimate is this window's count plus the previous window's, weighted by how much
of it still overlaps the last `window_s` seconds (no burst of twice the budget at a boundary).
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import Counter

from vodkit_gateway.auth import upload_grant, verified_user
from vodkit_gateway.keys import RATE_LIMITER, SETTINGS
from vodkit_gateway.openapi import Operation, matched_operation
from vodkit_gateway.settings import GatewaySettings
from vodkit_shared.metadata import Collection
from vodkit_shared.service import ApiError
from vodkit_shared.tokens import TokenError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
REFUSED = Counter("vodkit_ratelimit_refusals_total", "Requests refused with 429, by rate class", ["rate_class"])


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


def budgets(settings: GatewaySettings) -> dict[str, Budget]:
    window = settings.rate_limit_window_s
    return {
        "api": Budget(settings.rate_limit_api, window),
        "read": Budget(settings.rate_limit_read, window),
        "upload": Budget(settings.rate_limit_upload, window),
        "playback": Budget(settings.rate_limit_playback, window),
        "analytics": Budget(settings.rate_limit_analytics, window),
    }


RateClasses = dict[tuple[str, str], str | None]  # (method, OpenAPI path) → class; None: not limited


def rate_classes(operations: Iterable[Operation]) -> RateClasses:
    """Each operation's class, as `route_class` finds it (a view of the route table, for reading)."""
    return {(op.method, op.path): _class_of(op) for op in operations}


def _class_of(operation: Operation) -> str | None:
    return operation.rate_class if operation.rate_limited else None


def route_class(request: web.Request) -> str | None:
    """Which budget a request draws on: its operation's; None for health checks, metrics and the web page."""
    operation = matched_operation(request)
    if operation is not None:
        return _class_of(operation)
    return "api" if request.path.startswith(("/api/", "/videos/")) else None  # unknown path or method


async def client_key(request: web.Request) -> str:
    """`user:<sub>` for a valid user token, `user:<userId>` for an upload token, else `ip:<address>`."""
    if "Authorization" in request.headers:
        try:
            return f"user:{await verified_user(request)}"
        except (ApiError, TokenError):
            pass
        try:
            return f"user:{upload_grant(request).user_id}"
        except (ApiError, TokenError):
            pass
    return f"ip:{client_address(request, request.app[SETTINGS].trusted_proxy_hops)}"


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
    decision = await limiter.hit(kind, await client_key(request))
    headers = decision.headers(limiter.budget(kind))
    if not decision.allowed:
        REFUSED.labels(kind).inc()
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
