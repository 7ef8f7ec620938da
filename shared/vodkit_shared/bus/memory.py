"""In-process bus for the embedded mode, with the RabbitMQ adapter's semantics.

Every bus opened on the same `memory://NAME` in one event loop shares one broker, so the six
services of `vodkit up` talk through it exactly as they would through RabbitMQ. Envelopes are
serialised on publish, so no consumer ever shares a Python object with its publisher.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from dataclasses import dataclass, field

from vodkit_shared.bus.port import EVENTS_PUBLISHED, DeadLetter, MessageBus, RetryPolicy, Subscription, Verdict, settle
from vodkit_shared.events import Envelope

log = logging.getLogger(__name__)

Delivery = tuple[bytes, int]  # serialised envelope, attempt number


@dataclass(frozen=True)
class _Dead:
    body: bytes
    queue: str
    error: str
    attempts: int


@dataclass
class _Broker:
    queues: dict[str, asyncio.Queue[Delivery]] = field(default_factory=dict)
    bindings: dict[str, set[str]] = field(default_factory=dict)
    dead: dict[str, list[_Dead]] = field(default_factory=dict)

    def queue(self, name: str, event_type: str) -> asyncio.Queue[Delivery]:
        self.bindings.setdefault(event_type, set()).add(name)
        return self.queues.setdefault(name, asyncio.Queue())


# One broker per name and event loop: its queues belong to the loop they were made on, and a second
# loop in the same process (tests, one after another) gets brokers of its own.
_BROKERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Broker]] = weakref.WeakKeyDictionary()


def _broker(name: str) -> _Broker:
    return _BROKERS.setdefault(asyncio.get_running_loop(), {}).setdefault(name, _Broker())


class MemoryBus(MessageBus):
    def __init__(self, name: str = "", policy: RetryPolicy | None = None) -> None:
        self._broker = _broker(name)
        self._policy = policy or RetryPolicy()
        self._tasks: set[asyncio.Task[None]] = set()

    async def publish(self, envelope: Envelope) -> None:
        body = envelope.to_json()
        for name in self._broker.bindings.get(envelope.type, ()):
            self._broker.queues[name].put_nowait((body, 1))
        EVENTS_PUBLISHED.labels(envelope.type).inc()

    async def subscribe(self, subscription: Subscription) -> None:
        name = f"{subscription.service}.{subscription.event_type}"
        queue = self._broker.queue(name, subscription.event_type)
        for _ in range(subscription.concurrency):
            task = asyncio.create_task(self._consume(subscription, name, queue), name=f"consume {name}")
            self._tasks.add(task)

    async def _consume(self, sub: Subscription, name: str, queue: asyncio.Queue[Delivery]) -> None:
        while True:
            body, attempt = await queue.get()
            try:
                settlement = await settle(sub, Envelope.from_json(body), attempt, self._policy)
            except asyncio.CancelledError:
                queue.put_nowait((body, attempt))  # not acked: delivered again, like RabbitMQ
                raise
            if settlement.verdict is Verdict.RETRY:
                # The broker outlives this client, as a RabbitMQ retry queue would.
                delay = self._policy.delay_before(attempt + 1)
                asyncio.get_running_loop().call_later(delay, queue.put_nowait, (body, attempt + 1))
            elif settlement.verdict is Verdict.DEAD_LETTER:
                dead = _Dead(body, name, settlement.reason[:1000], attempt)
                self._broker.dead.setdefault(sub.service, []).append(dead)

    async def dead_letters(self, service: str) -> list[Envelope]:
        return [Envelope.from_json(dead.body) for dead in self._broker.dead.pop(service, [])]

    async def peek_dead_letters(self, service: str) -> list[DeadLetter]:
        return [
            DeadLetter(Envelope.from_json(dead.body), dead.queue, dead.error, dead.attempts)
            for dead in self._broker.dead.get(service, [])
        ]

    async def replay_dead_letters(self, service: str) -> int:
        taken = self._broker.dead.pop(service, [])
        for dead in taken:
            self._broker.queues[dead.queue].put_nowait((dead.body, 1))
        return len(taken)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
