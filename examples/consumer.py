"""A consumer of vodkit's events for an integrator's own service: aio-pika only, no vodkit import.

    pip install aio-pika
    python examples/consumer.py --queue acme.vodkit-events --bind package.done --bind video.failed

It declares what it owns (idempotently, so running it again is safe): a durable queue bound to
vodkit's topic exchange with the routing keys asked for (`#` for every event), and its own
dead-letter exchange `<queue>.dlx` and queue `<queue>.dead-letter`. The exchange is declared too,
with vodkit's own arguments, so the consumer may start before vodkit does.

Each delivery is acked only after `handle` returns. A body that is not a vodkit envelope is
rejected at once, so the broker moves it to the dead-letter queue (with an `x-death` header saying
whence and why); an error in `handle` gets one redelivery, then goes there too. An envelope whose
`id` was handled already is acked and skipped: vodkit delivers at least once. One JSON line per
delivery goes to stdout (what a real consumer would do instead is `handle`'s business).

docs/events.md explains the contract; /api/asyncapi.json on the gateway is its schema.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import uuid
from collections import OrderedDict
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

SUPPORTED_VERSIONS = {1}  # the envelope versions this consumer understands; see "Versions" in docs/events.md
ENVELOPE_FIELDS = {"id": str, "type": str, "version": int, "occurredAt": str, "videoId": str, "correlationId": str}


class NotAnEnvelope(ValueError):
    """The body is not a vodkit envelope: retrying cannot help, so it is dead-lettered at once."""


def read_envelope(body: bytes) -> dict[str, Any]:
    """The envelope in `body`, checked as far as this consumer relies on it; unknown fields are ignored."""
    try:
        envelope = json.loads(body)
    except ValueError as error:
        raise NotAnEnvelope(f"not JSON: {error}") from None
    if not isinstance(envelope, dict):
        raise NotAnEnvelope("not a JSON object")
    for field, kind in ENVELOPE_FIELDS.items():
        if not isinstance(envelope.get(field), kind) or isinstance(envelope.get(field), bool):
            raise NotAnEnvelope(f"field {field!r} is missing or not a {kind.__name__}")
    if not isinstance(envelope.get("data"), dict):
        raise NotAnEnvelope("field 'data' is missing or not an object")
    try:
        uuid.UUID(envelope["id"])
    except ValueError:
        raise NotAnEnvelope("field 'id' is not a UUID") from None
    return envelope


class SeenIds:
    """Envelope ids handled lately. A real consumer stores them with its side effect, in one transaction."""

    def __init__(self, size: int = 100_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._size = size

    def __contains__(self, event_id: str) -> bool:
        return event_id in self._ids

    def add(self, event_id: str) -> None:
        self._ids[event_id] = None
        if len(self._ids) > self._size:
            self._ids.popitem(last=False)


def report(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


async def handle(envelope: dict[str, Any]) -> None:
    """Your side effect goes here: update a catalogue, notify someone. Raise to have it redelivered once."""
    report(handled=envelope["type"], id=envelope["id"], videoId=envelope["videoId"], data=envelope["data"])


async def on_delivery(message: AbstractIncomingMessage, seen: SeenIds) -> None:
    async with message.process(requeue=True, reject_on_redelivered=True, ignore_processed=True):
        try:
            envelope = read_envelope(message.body)
        except NotAnEnvelope as error:
            report(deadLettered=str(error), routingKey=message.routing_key)
            await message.reject(requeue=False)
            return
        if envelope["version"] not in SUPPORTED_VERSIONS:
            # While vodkit publishes two versions of an event, the one this consumer knows comes too.
            report(skipped=envelope["id"], version=envelope["version"])
            return
        if envelope["id"] in seen:
            report(duplicate=envelope["id"])
            return
        await handle(envelope)
        seen.add(envelope["id"])


async def consume(url: str, exchange_name: str, queue_name: str, keys: list[str], prefetch: int) -> None:
    connection = await aio_pika.connect_robust(url)
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        exchange = await channel.declare_exchange(exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
        dead_letters = await channel.declare_exchange(f"{queue_name}.dlx", aio_pika.ExchangeType.FANOUT, durable=True)
        dead_letter_queue = await channel.declare_queue(f"{queue_name}.dead-letter", durable=True)
        await dead_letter_queue.bind(dead_letters)
        queue = await channel.declare_queue(
            queue_name, durable=True, arguments={"x-dead-letter-exchange": dead_letters.name}
        )
        for key in keys:
            await queue.bind(exchange, routing_key=key)
        seen = SeenIds()
        tag = await queue.consume(lambda message: on_delivery(message, seen))
        report(ready=queue_name, exchange=exchange_name, keys=keys)
        await _until_stopped()
        await queue.cancel(tag)


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description="Consume vodkit's events with a durable queue of your own.")
    parser.add_argument("--url", default=os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"))
    parser.add_argument("--exchange", default="vodkit", help="vodkit's exchange (VODKIT_BUS_EXCHANGE)")
    parser.add_argument("--queue", default="integrator.vodkit-events", help="your queue; name it after your service")
    parser.add_argument("--bind", action="append", help="routing key or pattern, repeatable (default: #)")
    parser.add_argument("--prefetch", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(consume(args.url, args.exchange, args.queue, args.bind or ["#"], args.prefetch))


if __name__ == "__main__":
    main()
