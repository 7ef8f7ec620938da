"""Waiting out an outage of the bus or the store, for work already done that is not worth doing again."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from vodkit_shared.bus import BusUnavailable
from vodkit_shared.storage import StorageUnavailable

log = logging.getLogger(__name__)
OUTAGE_WAIT_S = 300.0  # how long an encoded ladder waits out the bus or the store before the job is put off
OUTAGE_RETRY_S = 2.0  # between tries while it waits (the bus adapter reconnects every 5 s)
T = TypeVar("T")
UNREACHABLE = (BusUnavailable, StorageUnavailable)


async def outlasting(step: Callable[[], Awaitable[T]], video_id: str, what: str) -> T:
    """`step()`, tried again every OUTAGE_RETRY_S while the bus or the store cannot be reached, for up to
    OUTAGE_WAIT_S: the encode is done, and an outage is not worth encoding again for. Then it raises,
    and the runner puts the job off."""
    deadline = time.monotonic() + OUTAGE_WAIT_S
    while True:
        try:
            return await step()
        except UNREACHABLE as error:
            if time.monotonic() + OUTAGE_RETRY_S > deadline:
                raise
            log.info("waiting out an outage", extra={"videoId": video_id, "step": what, "error": str(error)})
            await asyncio.sleep(OUTAGE_RETRY_S)
