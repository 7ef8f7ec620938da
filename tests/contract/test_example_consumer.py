"""examples/consumer.py, run as an integrator runs it, against the real broker and vodkit's RabbitBus."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
import pytest

from tests.support import AMQP_URL, eventually, need_rabbitmq
from vodkit_shared.bus.rabbitmq import RabbitBus
from vodkit_shared.events import ChunkReceived, Envelope, VideoAssembled

pytestmark = pytest.mark.contract
CONSUMER = Path(__file__).resolve().parents[2] / "examples" / "consumer.py"


@dataclass
class Consumer:
    process: asyncio.subprocess.Process
    exchange: str
    queue: str

    async def line(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        raw = await asyncio.wait_for(self.process.stdout.readline(), 20)
        assert raw, f"the consumer ended (exit {await self.process.wait()})"
        parsed: dict[str, Any] = json.loads(raw)
        return parsed


@pytest.fixture
async def consumer() -> AsyncIterator[Consumer]:
    need_rabbitmq()
    exchange = f"test-{uuid.uuid4().hex[:12]}"
    queue = f"{exchange}.integrator"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CONSUMER),
        *("--url", AMQP_URL, "--exchange", exchange, "--queue", queue, "--bind", "video.*"),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        yield Consumer(process, exchange, queue)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 20) == 0, "the consumer did not stop cleanly on SIGTERM"
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await _remove(exchange, queue)


async def _remove(exchange: str, queue: str) -> None:
    """What the consumer declared is durable: a test run leaves none of it on the shared broker."""
    async with await aio_pika.connect(AMQP_URL) as connection:
        channel = await connection.channel()
        for name in (queue, f"{queue}.dead-letter"):
            await channel.queue_delete(name)
        for name in (exchange, f"{queue}.dlx"):
            await channel.exchange_delete(name)


async def test_the_example_consumer_gets_what_vodkit_publishes_and_dead_letters_what_it_cannot_read(
    consumer: Consumer,
) -> None:
    ready = await consumer.line()
    assert ready == {"ready": consumer.queue, "exchange": consumer.exchange, "keys": ["video.*"]}
    bus = RabbitBus(AMQP_URL, consumer.exchange)
    await bus.connect()
    try:
        assembled = Envelope.wrap(VideoAssembled(source_key="originals/v1/source", size=3), video_id="v1")
        await bus.publish(assembled)
        handled = await consumer.line()
        assert handled == {
            "handled": "video.assembled",
            "id": str(assembled.id),
            "videoId": "v1",
            "data": {"sourceKey": "originals/v1/source", "size": 3, "sha256": None},
        }
        await bus.publish(assembled)  # at least once: the same envelope again
        assert await consumer.line() == {"duplicate": str(assembled.id)}
        # not bound (`video.*` only): this one never reaches the consumer's queue
        await bus.publish(Envelope.wrap(ChunkReceived(chunk_index=0, total_chunks=1, size=3, key="k"), video_id="v1"))
    finally:
        await bus.close()

    async with await aio_pika.connect(AMQP_URL) as connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(consumer.exchange)
        await exchange.publish(aio_pika.Message(b"{not json"), routing_key="video.assembled")
        dead = await consumer.line()  # the next line: chunk.received printed nothing before it
        assert "deadLettered" in dead, dead
        assert dead["routingKey"] == "video.assembled"
        assert dead["deadLettered"].startswith("not JSON")
        dead_letters = await channel.get_queue(f"{consumer.queue}.dead-letter")
        taken: list[aio_pika.abc.AbstractIncomingMessage] = []

        async def one_dead_letter() -> bool:
            message = await dead_letters.get(fail=False, no_ack=True)
            if message is not None:
                taken.append(message)
            return bool(taken)

        await eventually(one_dead_letter)
    assert taken[0].body == b"{not json"
    death = taken[0].headers["x-death"]
    assert isinstance(death, list)
    assert isinstance(death[0], dict)
    assert (death[0]["queue"], death[0]["reason"]) == (consumer.queue, "rejected")
