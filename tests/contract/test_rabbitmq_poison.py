"""RabbitMQ only: whatever a delivery carries, it is settled; a poison message never jams its queue."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import aio_pika
import pytest

from tests.support import AMQP_URL, eventually, need_rabbitmq
from vodkit_shared.bus import RetryPolicy, Subscription
from vodkit_shared.bus.rabbitmq import RabbitBus
from vodkit_shared.events import ChunkReceived, Envelope

pytestmark = pytest.mark.contract


@pytest.fixture
async def bus() -> AsyncIterator[RabbitBus]:
    need_rabbitmq()
    opened = RabbitBus(AMQP_URL, f"test-{uuid.uuid4().hex[:12]}", RetryPolicy(3, 0.05), queue_expiry_s=120)
    await opened.connect()
    yield opened
    await opened.close()


def event(video_id: str) -> Envelope:
    return Envelope.wrap(ChunkReceived(chunk_index=0, total_chunks=1, size=3, key="k"), video_id=video_id)


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (None, {"x-attempt": "abc"}),  # int() of it raised outside the settle path: the queue stopped for good
        (None, {"x-attempt": 0}),
        (None, {"x-attempt": 1.5}),
        (b"not json", {}),
        (b'{"type": "chunk.received"}', {}),
    ],
)
async def test_a_poison_delivery_is_dead_lettered_and_the_next_is_handled(
    bus: RabbitBus, body: bytes | None, headers: dict[str, object]
) -> None:
    handled: list[str] = []

    async def handle(envelope: Envelope) -> None:
        handled.append(envelope.video_id)

    await bus.subscribe(Subscription("svc", ChunkReceived.TYPE, handle))
    poison = event("poison")
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        message = aio_pika.Message(body if body is not None else poison.to_json(), headers=headers)  # type: ignore[arg-type]
        await channel.default_exchange.publish(message, routing_key=f"{bus._exchange_name}.svc.{ChunkReceived.TYPE}")
    await bus.publish(event("next"))
    await eventually(lambda: handled == ["next"])
    if body is None:  # an envelope with a bad header: kept, for an operator to look at
        dead = await bus.dead_letters("svc")
        assert [envelope.id for envelope in dead] == [poison.id]
