"""RabbitMQ adapter (aio-pika, robust connection).

Topology, for exchange X and a service S consuming event type T:
- `X`: durable topic exchange; routing key = event type.
- `X.S.T`: durable queue bound to `X` with key `T`; manual ack after the handler returns.
- `X.S.T.retry`: durable queue holding messages for their retry delay (per-message TTL), then
  dead-lettering them back into `X.S.T`. A message waiting with a longer TTL can hold back one
  behind it; the delay is then longer than asked, never shorter.
- `X.S.dead-letter`: durable queue of what S gave up on, with the reason in `x-error` and the queue
  it came from in `x-queue` (where `replay_dead_letters` puts it back).
Messages are persistent and published with publisher confirms, so `publish` returns once the
broker has them; while the broker cannot be reached it raises `BusUnavailable` instead.

The connection is robust (aio-pika reconnects every `RECONNECT_S` and restores channels and
consumers). A lost connection is logged once as a warning and its return once as info; aio-pika's
and aiormq's own tracebacks for the same event are kept below ERROR.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from aio_pika.exceptions import CONNECTION_EXCEPTIONS
from pydantic import ValidationError

from vodkit_shared.bus.port import (
    EVENTS_PUBLISHED,
    EVENTS_SETTLED,
    EVENTS_UNPUBLISHED,
    BusUnavailable,
    DeadLetter,
    MessageBus,
    RetryPolicy,
    Subscription,
    Verdict,
    settle,
)
from vodkit_shared.events import Envelope

log = logging.getLogger(__name__)
RECONNECT_S = 5.0
PUBLISH_TIMEOUT_S = 10.0
MAX_DEAD_LETTERS = 10_000  # one look at (or replay of) a service's dead letters takes at most this many
for _noisy in ("aio_pika", "aiormq"):  # a broker restart is one warning of ours, not two dozen tracebacks
    logging.getLogger(_noisy).setLevel(logging.CRITICAL)


class RabbitBus(MessageBus):
    def __init__(
        self,
        url: str,
        exchange: str = "vodkit",
        policy: RetryPolicy | None = None,
        queue_expiry_s: int | None = None,
    ) -> None:
        self._url = url
        self._exchange_name = exchange
        self._policy = policy or RetryPolicy()
        # Test runs give their queues an expiry so that unused ones do not pile up on the broker.
        self._queue_args: dict[str, Any] = {"x-expires": queue_expiry_s * 1000} if queue_expiry_s else {}
        self._connection: AbstractRobustConnection | None = None
        self._exchange: AbstractExchange | None = None
        self._channels: list[AbstractChannel] = []

    async def connect(self) -> None:
        self._connection = await aio_pika.connect_robust(self._url, reconnect_interval=RECONNECT_S)
        self._connection.close_callbacks.add(self._on_lost)
        self._connection.reconnect_callbacks.add(self._on_back)
        channel = await self._open_channel(prefetch=0)
        self._exchange = await channel.declare_exchange(self._exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)

    def _on_lost(self, _: object, error: BaseException | None) -> None:
        if error is not None and not isinstance(error, asyncio.CancelledError):
            log.warning("broker connection lost; reconnecting", extra={"error": str(error) or type(error).__name__})

    def _on_back(self, _: object) -> None:
        log.info("broker connection back")

    async def ping(self) -> None:
        connection = self._connection
        transport = connection.transport if connection is not None else None
        if connection is None or connection.is_closed or transport is None or transport.connection.is_closed:
            raise BusUnavailable("the broker cannot be reached")

    async def _open_channel(self, prefetch: int) -> AbstractChannel:
        assert self._connection is not None, "connect() first"
        channel = await self._connection.channel(publisher_confirms=True)
        if prefetch:
            await channel.set_qos(prefetch_count=prefetch)
        self._channels.append(channel)
        return channel

    async def publish(self, envelope: Envelope) -> None:
        assert self._exchange is not None, "connect() first"
        message = _message(envelope.to_json(), envelope)
        try:
            await asyncio.wait_for(self._exchange.publish(message, routing_key=envelope.type), PUBLISH_TIMEOUT_S)
        except (*CONNECTION_EXCEPTIONS, TimeoutError) as error:
            EVENTS_UNPUBLISHED.labels(envelope.type).inc()
            raise BusUnavailable(f"the broker did not take {envelope.type}: {error or type(error).__name__}") from error
        EVENTS_PUBLISHED.labels(envelope.type).inc()

    async def subscribe(self, subscription: Subscription) -> None:
        channel = await self._open_channel(prefetch=subscription.concurrency)
        name = f"{self._exchange_name}.{subscription.service}.{subscription.event_type}"
        queue = await channel.declare_queue(name, durable=True, arguments=self._queue_args)
        await queue.bind(self._exchange_name, routing_key=subscription.event_type)
        await channel.declare_queue(
            f"{name}.retry",
            durable=True,
            arguments={**self._queue_args, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": name},
        )
        dead_letter = self._dead_letter_queue(subscription.service)
        await channel.declare_queue(dead_letter, durable=True, arguments=self._queue_args)

        async def on_message(message: AbstractIncomingMessage) -> None:
            await self._deliver(channel, subscription, name, message)

        await queue.consume(on_message)

    def _dead_letter_queue(self, service: str) -> str:
        return f"{self._exchange_name}.{service}.dead-letter"

    async def _deliver(
        self, channel: AbstractChannel, sub: Subscription, queue: str, message: AbstractIncomingMessage
    ) -> None:
        """One delivery, settled whatever it carries: what cannot be read is dead-lettered with why and whence."""
        try:
            envelope, attempt = _read(message)
        except Unreadable as error:
            log.warning("unreadable delivery dead-lettered", extra={"queue": queue, "error": str(error)})
            EVENTS_SETTLED.labels(sub.service, sub.event_type, "dead-letter").inc()
            await self._send(
                channel,
                self._dead_letter_queue(sub.service),
                message.body,
                None,
                {"x-error": str(error), "x-queue": queue},
            )
            await message.ack()
            return
        settlement = await settle(sub, envelope, attempt, self._policy)
        if settlement.verdict is Verdict.RETRY:
            delay = timedelta(seconds=self._policy.delay_before(attempt + 1))
            await self._send(
                channel, f"{queue}.retry", message.body, envelope, {"x-attempt": attempt + 1}, expiration=delay
            )
        elif settlement.verdict is Verdict.DEAD_LETTER:
            await self._send(
                channel,
                self._dead_letter_queue(sub.service),
                message.body,
                envelope,
                {"x-attempt": attempt, "x-error": settlement.reason[:1000], "x-queue": queue},
            )
        await message.ack()  # only after the retry or dead-letter copy is confirmed by the broker

    @staticmethod
    async def _send(
        channel: AbstractChannel,
        queue: str,
        body: bytes,
        envelope: Envelope | None,
        headers: dict[str, Any],
        expiration: timedelta | None = None,
    ) -> None:
        message = _message(body, envelope, headers=headers, expiration=expiration)
        await channel.default_exchange.publish(message, routing_key=queue)

    async def dead_letters(self, service: str) -> list[Envelope]:
        channel = await self._open_channel(prefetch=0)
        queue = await channel.declare_queue(self._dead_letter_queue(service), durable=True, arguments=self._queue_args)
        taken: list[Envelope] = []
        while (message := await queue.get(fail=False, no_ack=True)) is not None:
            try:
                taken.append(Envelope.from_json(message.body))
            except ValidationError:  # a body that never was an envelope: its reason was logged when it came
                log.warning(
                    "dead letter that is not an envelope taken", extra={"error": message.headers.get("x-error")}
                )
        return taken

    async def peek_dead_letters(self, service: str) -> list[DeadLetter]:
        """Each one is taken unacked and all go back, in their order, when the channel closes."""
        async with self._dead_letters_of(service) as (_, queue):
            letters: list[DeadLetter] = []
            while len(letters) < MAX_DEAD_LETTERS and (message := await queue.get(fail=False)) is not None:
                if (letter := _dead_letter(message)) is not None:
                    letters.append(letter)
            return letters

    async def replay_dead_letters(self, service: str) -> int:
        """Each one is acked only once its queue has the copy (confirmed, `mandatory`: a queue that is gone
        refuses it); what cannot be read stays a dead letter."""
        replayed = 0
        async with self._dead_letters_of(service) as (channel, queue):
            while replayed < MAX_DEAD_LETTERS and (message := await queue.get(fail=False)) is not None:
                if (letter := _dead_letter(message)) is None:
                    continue  # unacked: back in the queue when the channel closes
                again = _message(message.body, letter.envelope, headers={"x-attempt": 1})
                await channel.default_exchange.publish(again, routing_key=letter.queue, mandatory=True)
                await message.ack()
                replayed += 1
        return replayed

    @contextlib.asynccontextmanager
    async def _dead_letters_of(self, service: str) -> AsyncIterator[tuple[AbstractChannel, AbstractQueue]]:
        assert self._connection is not None, "connect() first"
        channel = await self._connection.channel(publisher_confirms=True)
        try:
            queue = await channel.declare_queue(
                self._dead_letter_queue(service), durable=True, arguments=self._queue_args
            )
            yield channel, queue
        finally:
            await channel.close()  # what was taken and not acked goes back

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            await asyncio.sleep(0)


def _message(
    body: bytes,
    envelope: Envelope | None,
    headers: dict[str, Any] | None = None,
    expiration: timedelta | None = None,
) -> aio_pika.Message:
    return aio_pika.Message(
        body,
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=str(envelope.id) if envelope else None,
        type=envelope.type if envelope else None,
        headers=headers or {},
        expiration=expiration,
    )


def _dead_letter(message: AbstractIncomingMessage) -> DeadLetter | None:
    """A dead letter as `_deliver` wrote it; None for a body that never was an envelope."""
    headers = message.headers or {}
    try:
        envelope = Envelope.from_json(message.body)
    except ValidationError:
        return None
    queue, error = (_text(headers.get(name, "")) for name in ("x-queue", "x-error"))
    attempts = headers.get("x-attempt", 1)
    return DeadLetter(envelope, queue, error, attempts if isinstance(attempts, int) else 1) if queue else None


def _text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


class Unreadable(Exception):
    """A delivery whose body or headers cannot be read; the message says which and why."""


def _read(message: AbstractIncomingMessage) -> tuple[Envelope, int]:
    """The delivery's envelope and attempt number; Unreadable for anything else (the one place that parses them)."""
    attempt = _attempt((message.headers or {}).get("x-attempt", 1))
    try:
        return Envelope.from_json(message.body), attempt
    except ValidationError as error:
        raise Unreadable(f"not an envelope: {error}"[:1000]) from None


def _attempt(raw: object) -> int:
    """`x-attempt` as this adapter writes it: a whole number from 1. A header anyone else set may be anything."""
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    if isinstance(raw, bool) or not text.isascii() or not text.isdigit() or int(text) < 1:
        raise Unreadable(f"x-attempt header is not a delivery count: {text[:40]!r}")
    return int(text)
