"""In-process bus for the embedded mode, with the RabbitMQ adapter's semantics.

Every bus opened on the same `memory://NAME` in one process shares one broker, so the six
services of `vodkit up` talk through it exactly as they would through RabbitMQ. Envelopes are
serialised on publish, so no consumer ever shares a Python object with its publisher.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from vodkit_shared.bus.port import MessageBus, RetryPolicy, Subscription, Verdict, settle
from vodkit_shared.events import Envelope

log = logging.getLogger(__name__)

Delivery = tuple[bytes, int]  # serialised envelope, attempt number


@dataclass
class _Broker:
    queues: dict[str, asyncio.Queue[Delivery]] = field(default_factory=dict)
    bindings: dict[str, set[str]] = field(default_factory=dict)
    dead: dict[str, list[bytes]] = field(default_factory=dict)

    def queue(self, name: str, event_type: str) -> asyncio.Queue[Delivery]:
        self.bindings.setdefault(event_type, set()).add(name)
        return self.queues.setdefault(name, asyncio.Queue())


_BROKERS: dict[str, _Broker] = {}


class MemoryBus(MessageBus):
    def __init__(self, name: str = "", policy: RetryPolicy | None = None) -> None:
        self._broker = _BROKERS.setdefault(name, _Broker())
        self._policy = policy or RetryPolicy()
        self._tasks: set[asyncio.Task[None]] = set()

    async def publish(self, envelope: Envelope) -> None:
        body = envelope.to_json()
        for name in self._broker.bindings.get(envelope.type, ()):
            self._broker.queues[name].put_nowait((body, 1))

    async def subscribe(self, subscription: Subscription) -> None:
        name = f"{subscription.service}.{subscription.event_type}"
        queue = self._broker.queue(name, subscription.event_type)
        for _ in range(subscription.concurrency):
            task = asyncio.create_task(self._consume(subscription, queue), name=f"consume {name}")
            self._tasks.add(task)

    async def _consume(self, sub: Subscription, queue: asyncio.Queue[Delivery]) -> None:
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
                self._broker.dead.setdefault(sub.service, []).append(body)

    async def dead_letters(self, service: str) -> list[Envelope]:
        bodies = self._broker.dead.pop(service, [])
        return [Envelope.from_json(body) for body in bodies]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
