"""A byte-rate limit shared by every move of a pass (a token bucket that may go into debt)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class Throttle:
    def __init__(
        self,
        bytes_per_s: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._rate = bytes_per_s  # 0: unlimited
        self._clock = clock
        self._sleep = sleep
        self._ready_at = clock()
        self._lock = asyncio.Lock()

    async def take(self, size: int) -> None:
        """Wait until `size` more bytes fit the rate."""
        if self._rate <= 0:
            return
        async with self._lock:
            now = self._clock()
            start = max(now, self._ready_at)
            self._ready_at = start + size / self._rate
            wait = start - now
        if wait > 0:
            await self._sleep(wait)
