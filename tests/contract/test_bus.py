"""The bus contract: the same test suite against the in-memory adapter and RabbitMQ."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from prometheus_client import REGISTRY

from tests.support import AMQP_URL, eventually, need_rabbitmq
from vodkit_shared.bus import MessageBus, PermanentError, RetryPolicy, Subscription
from vodkit_shared.bus.memory import MemoryBus
from vodkit_shared.bus.port import DeadLetter
from vodkit_shared.bus.rabbitmq import RabbitBus
from vodkit_shared.events import ChunkReceived, Envelope, VideoAssembled

pytestmark = pytest.mark.contract
POLICY = RetryPolicy(attempts=3, base_delay_s=0.05)
BusFactory = Callable[[], Awaitable[MessageBus]]


@pytest.fixture(params=["memory", "rabbitmq"])
async def new_bus(request: pytest.FixtureRequest) -> AsyncIterator[BusFactory]:
    """Opens buses that all reach one fresh broker namespace (a memory name or an exchange)."""
    namespace = f"test-{uuid.uuid4().hex[:12]}"
    if request.param == "rabbitmq":
        need_rabbitmq()
    opened: list[MessageBus] = []

    async def open_one() -> MessageBus:
        if request.param == "memory":
            bus: MessageBus = MemoryBus(namespace, POLICY)
        else:
            rabbit = RabbitBus(AMQP_URL, namespace, POLICY, queue_expiry_s=120)
            await rabbit.connect()
            bus = rabbit
        opened.append(bus)
        return bus

    yield open_one
    for bus in opened:
        await bus.close()


def chunk_event(video_id: str = "v1") -> Envelope:
    return Envelope.wrap(ChunkReceived(chunk_index=0, total_chunks=1, size=3, key="k"), video_id=video_id)


class Settled:
    """The bus's own count of deliveries settled (acked, retried, dead-lettered) for one service.

    Waiting until it moves is how a test knows the adapter is done with a delivery: after that,
    an extra delivery would be the adapter's fault, with no fixed sleep needed to catch it."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._start = {outcome: self._now(outcome) for outcome in ("ack", "retry", "dead-letter")}

    def _now(self, outcome: str) -> float:
        labels = {"service": self.service, "type": ChunkReceived.TYPE, "outcome": outcome}
        return REGISTRY.get_sample_value("vodkit_events_settled_total", labels) or 0.0

    def count(self, outcome: str) -> int:
        return int(self._now(outcome) - self._start[outcome])


async def test_every_subscribed_service_gets_each_event_once(new_bus: BusFactory) -> None:
    bus = await new_bus()
    seen: dict[str, list[Envelope]] = {"a": [], "b": [], "other": []}

    def record(name: str) -> Callable[[Envelope], Awaitable[None]]:
        async def handle(envelope: Envelope) -> None:
            seen[name].append(envelope)

        return handle

    await bus.subscribe(Subscription("a", ChunkReceived.TYPE, record("a")))
    await bus.subscribe(Subscription("b", ChunkReceived.TYPE, record("b")))
    await bus.subscribe(Subscription("other", VideoAssembled.TYPE, record("other")))
    sent, after = chunk_event(), chunk_event("v2")
    await bus.publish(sent)
    await bus.publish(after)  # each queue is in order: once it is in, so is any copy of `sent`
    other_type = Envelope.wrap(VideoAssembled(source_key="k", size=3, sha256="0" * 64), video_id="v3")
    await bus.publish(other_type)
    await eventually(lambda: len(seen["a"]) == 2 and len(seen["b"]) == 2 and len(seen["other"]) == 1)
    assert [e.id for e in seen["a"]] == [sent.id, after.id]
    assert seen["b"][0] == sent
    assert [e.id for e in seen["other"]] == [other_type.id]


async def test_a_transient_failure_is_retried_until_it_succeeds(new_bus: BusFactory) -> None:
    bus = await new_bus()
    calls: list[float] = []

    async def flaky(envelope: Envelope) -> None:
        calls.append(asyncio.get_running_loop().time())
        if len(calls) < 3:
            raise ConnectionError("storage hiccup")

    settled = Settled("svc-flaky")
    await bus.subscribe(Subscription("svc-flaky", ChunkReceived.TYPE, flaky))
    await bus.publish(chunk_event())
    await eventually(lambda: settled.count("ack") == 1)
    assert len(calls) == 3
    assert settled.count("retry") == 2
    # Backoff grows: base, then 2 × base (lower bounds only: a busy machine may add delay).
    assert calls[1] - calls[0] >= POLICY.base_delay_s * 0.9
    assert calls[2] - calls[1] >= 2 * POLICY.base_delay_s * 0.9
    assert await bus.dead_letters("svc-flaky") == []


async def test_after_the_last_attempt_the_event_is_dead_lettered_and_reported(new_bus: BusFactory) -> None:
    bus = await new_bus()
    calls: list[int] = []
    given_up: list[tuple[Envelope, BaseException]] = []

    async def broken(envelope: Envelope) -> None:
        calls.append(1)
        raise RuntimeError("disk full")

    async def on_give_up(envelope: Envelope, error: BaseException) -> None:
        given_up.append((envelope, error))

    settled = Settled("svc")
    await bus.subscribe(Subscription("svc", ChunkReceived.TYPE, broken, on_give_up=on_give_up))
    sent = chunk_event()
    await bus.publish(sent)
    await eventually(lambda: len(given_up) == 1 and settled.count("dead-letter") == 1)
    assert len(calls) == POLICY.attempts
    assert given_up[0][0].id == sent.id
    assert "disk full" in str(given_up[0][1])
    dead: list[Envelope] = []

    async def dead_lettered() -> bool:
        dead.extend(await bus.dead_letters("svc"))
        return len(dead) == 1

    await eventually(dead_lettered)
    assert dead[0].id == sent.id


async def test_a_permanent_error_is_dead_lettered_without_retry(new_bus: BusFactory) -> None:
    bus = await new_bus()
    calls: list[int] = []
    given_up: list[BaseException] = []

    async def reject(envelope: Envelope) -> None:
        calls.append(1)
        raise PermanentError("not a video")

    async def on_give_up(envelope: Envelope, error: BaseException) -> None:
        given_up.append(error)

    settled = Settled("svc-reject")
    await bus.subscribe(Subscription("svc-reject", ChunkReceived.TYPE, reject, on_give_up=on_give_up))
    await bus.publish(chunk_event())
    await eventually(lambda: len(given_up) == 1 and settled.count("dead-letter") == 1)
    assert calls == [1]
    assert settled.count("retry") == 0
    assert isinstance(given_up[0], PermanentError)


async def test_an_event_in_flight_when_a_consumer_stops_is_delivered_again(new_bus: BusFactory) -> None:
    first = await new_bus()
    started = asyncio.Event()

    async def stuck(envelope: Envelope) -> None:
        started.set()
        await asyncio.sleep(3600)

    await first.subscribe(Subscription("svc", ChunkReceived.TYPE, stuck))
    sent = chunk_event()
    await first.publish(sent)
    await asyncio.wait_for(started.wait(), 10)
    await first.close()

    second = await new_bus()
    received: list[Envelope] = []

    async def handle(envelope: Envelope) -> None:
        received.append(envelope)

    await second.subscribe(Subscription("svc", ChunkReceived.TYPE, handle))
    await eventually(lambda: len(received) == 1)
    assert received[0].id == sent.id


async def test_handlers_of_one_subscription_run_concurrently_up_to_its_limit(new_bus: BusFactory) -> None:
    bus = await new_bus()
    running, peak = 0, 0
    done: list[int] = []

    async def slow(envelope: Envelope) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.2)
        running -= 1
        done.append(1)

    await bus.subscribe(Subscription("svc", ChunkReceived.TYPE, slow, concurrency=2))
    for _ in range(4):
        await bus.publish(chunk_event())
    await eventually(lambda: len(done) == 4)
    assert peak == 2


class NotAVideo(Exception):
    """A service's own refusal, named in its subscription."""


async def test_a_refusal_the_subscription_names_is_dead_lettered_without_retry(new_bus: BusFactory) -> None:
    bus = await new_bus()
    calls: list[int] = []
    given_up: list[BaseException] = []

    async def refuse(envelope: Envelope) -> None:
        calls.append(1)
        raise NotAVideo("the original is not what was declared")

    async def on_give_up(envelope: Envelope, error: BaseException) -> None:
        given_up.append(error)

    settled = Settled("svc-refusal")
    subscription = Subscription("svc-refusal", ChunkReceived.TYPE, refuse, on_give_up, refusals=(NotAVideo,))
    await bus.subscribe(subscription)
    await bus.publish(chunk_event())
    await eventually(lambda: len(given_up) == 1 and settled.count("dead-letter") == 1)
    assert calls == [1]
    assert isinstance(given_up[0], PermanentError)
    assert str(given_up[0]) == "the original is not what was declared"


async def test_dead_letters_can_be_looked_at_then_replayed_to_the_consumer_that_gave_up(new_bus: BusFactory) -> None:
    bus = await new_bus()
    healthy = asyncio.Event()
    seen: dict[str, list[Envelope]] = {"fussy": [], "other": []}

    async def fussy(envelope: Envelope) -> None:
        seen["fussy"].append(envelope)
        if not healthy.is_set():
            raise PermanentError("cannot take it yet")

    async def other(envelope: Envelope) -> None:
        seen["other"].append(envelope)

    await bus.subscribe(Subscription("fussy", ChunkReceived.TYPE, fussy))
    await bus.subscribe(Subscription("other", ChunkReceived.TYPE, other))
    event = chunk_event()
    await bus.publish(event)

    letters: list[DeadLetter] = []

    async def dead_lettered() -> bool:
        letters[:] = await bus.peek_dead_letters("fussy")
        return bool(letters)

    await eventually(dead_lettered)
    assert [(d.envelope.id, d.attempts) for d in letters] == [(event.id, 1)]
    assert "cannot take it yet" in letters[0].error
    assert letters[0].queue.endswith(f"fussy.{ChunkReceived.TYPE}")
    assert [d.envelope.id for d in await bus.peek_dead_letters("fussy")] == [event.id]  # looking takes nothing

    healthy.set()
    assert await bus.replay_dead_letters("fussy") == 1
    await eventually(lambda: len(seen["fussy"]) == 2)
    assert [e.id for e in seen["fussy"]] == [event.id, event.id]
    assert await bus.peek_dead_letters("fussy") == []
    assert await bus.replay_dead_letters("fussy") == 0
    await asyncio.sleep(0.2)
    assert [e.id for e in seen["other"]] == [event.id]  # the replay went to the one queue, not the exchange


def test_a_memory_bus_of_one_name_in_a_second_event_loop_gets_a_broker_of_its_own() -> None:
    """Tests run one loop after another in one process: a broker whose queues were bound to the first
    loop made the second's consumers fail with 'bound to a different event loop'."""

    async def round_trip() -> list[Envelope]:
        bus, seen = MemoryBus("shared-name", POLICY), []

        async def hear(envelope: Envelope) -> None:
            seen.append(envelope)

        await bus.subscribe(Subscription("svc", ChunkReceived.TYPE, hear))
        await bus.publish(chunk_event())
        await eventually(lambda: len(seen) == 1)
        await bus.close()
        return seen

    assert len(asyncio.run(round_trip())) == 1
    assert len(asyncio.run(round_trip())) == 1
