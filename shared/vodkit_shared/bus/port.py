"""The message bus port: publish envelopes, consume them with ack, bounded retry and dead-letter.

Both adapters decide what happens to a delivery through `settle`, so a consumer sees the same
semantics on `memory://` and on RabbitMQ:
- the handler returns: ack;
- it raises `PermanentError`, or one of the subscription's `refusals` (the domain's own errors
  for input that can never be handled, named where the service wires its consumers): dead-letter
  at once, and `on_give_up` gets it as a `PermanentError` with the refusal's message;
- it raises anything else: retry after a growing delay, up to `RetryPolicy.attempts` deliveries,
  then dead-letter;
- it is cancelled (the service is stopping): never acked, so the broker delivers it again.
On dead-letter, the subscription's `on_give_up` runs, so a service can report the failure
(a video must never stay in `processing` because its event was dead-lettered).
"""

from __future__ import annotations

import enum
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from prometheus_client import Counter

from vodkit_shared import log_context
from vodkit_shared.events import Envelope

log = logging.getLogger(__name__)

EVENTS_SETTLED = Counter(
    "vodkit_events_settled_total", "Deliveries handled, by outcome", ["service", "type", "outcome"]
)
# Counted by the adapters: a publish the broker took (confirmed), and one it did not (BusUnavailable raised).
EVENTS_PUBLISHED = Counter("vodkit_events_published_total", "Events the broker took", ["type"])
EVENTS_UNPUBLISHED = Counter("vodkit_events_publish_failures_total", "Events the broker did not take", ["type"])

Handler = Callable[[Envelope], Awaitable[None]]
GiveUpHandler = Callable[[Envelope, BaseException], Awaitable[None]]


class PermanentError(Exception):
    """The event can never be handled (bad input): dead-letter it without retrying."""


class BusUnavailable(Exception):
    """The broker cannot take a message now (an outage, a reconnect): nothing was published; try later.

    The HTTP edge answers 503 with Retry-After; work that could not announce its outcome keeps it."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    base_delay_s: float = 1.0

    def delay_before(self, attempt: int) -> float:
        """Delay before delivery number `attempt` (2, 3, …): base, 2·base, 4·base, …"""
        return float(self.base_delay_s * 2 ** (attempt - 2))


@dataclass(frozen=True)
class Subscription:
    service: str
    event_type: str
    handler: Handler
    on_give_up: GiveUpHandler | None = None
    concurrency: int = 1
    refusals: tuple[type[Exception], ...] = ()  # domain errors that mean "never": dead-lettered at once


class Verdict(enum.Enum):
    ACK = "ack"
    RETRY = "retry"
    DEAD_LETTER = "dead-letter"


@dataclass(frozen=True)
class Settlement:
    verdict: Verdict
    error: BaseException | None = None

    @property
    def reason(self) -> str:
        return f"{type(self.error).__name__}: {self.error}" if self.error else ""


async def settle(sub: Subscription, envelope: Envelope, attempt: int, policy: RetryPolicy) -> Settlement:
    """Run the handler for one delivery and decide its fate; the one ack path of both adapters.

    What is logged meanwhile names the delivery (`log_context`: its event id is its request id);
    a handled one is logged once, as a request is in the access log."""
    event_id = str(envelope.id)
    with log_context.binding(
        service=sub.service,
        requestId=event_id,
        videoId=envelope.video_id,
        correlationId=envelope.correlation_id,
        eventId=event_id,
        eventType=envelope.type,
    ):
        started = time.perf_counter()
        settlement = await _decide(sub, envelope, attempt, policy)
        if settlement.verdict is Verdict.ACK:
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            log.info("event handled", extra={"attempt": attempt, "durationMs": duration_ms})
        return settlement


async def _decide(sub: Subscription, envelope: Envelope, attempt: int, policy: RetryPolicy) -> Settlement:
    """The handler's outcome as a verdict; reported to `on_give_up` on dead-letter."""
    try:
        await sub.handler(envelope)
    except PermanentError as error:
        settlement = Settlement(Verdict.DEAD_LETTER, error)
    except sub.refusals as error:
        refused = PermanentError(str(error))
        refused.__cause__ = error
        settlement = Settlement(Verdict.DEAD_LETTER, refused)
    except Exception as error:  # noqa: BLE001 - any other failure is treated as transient
        verdict = Verdict.RETRY if attempt < policy.attempts else Verdict.DEAD_LETTER
        settlement = Settlement(verdict, error)
    else:
        EVENTS_SETTLED.labels(sub.service, envelope.type, Verdict.ACK.value).inc()
        return Settlement(Verdict.ACK)
    EVENTS_SETTLED.labels(sub.service, envelope.type, settlement.verdict.value).inc()
    log.warning(
        "event %s",
        settlement.verdict.value,
        extra={
            "service": sub.service,
            "eventType": envelope.type,
            "eventId": str(envelope.id),
            "videoId": envelope.video_id,
            "attempt": attempt,
            "error": settlement.reason,
        },
    )
    if settlement.verdict is Verdict.DEAD_LETTER and sub.on_give_up is not None:
        assert settlement.error is not None
        try:
            await sub.on_give_up(envelope, settlement.error)
        except Exception:
            log.exception("on_give_up failed", extra={"service": sub.service, "eventId": str(envelope.id)})
    return settlement


@dataclass(frozen=True)
class DeadLetter:
    """An envelope a service gave up on, where it came from and why."""

    envelope: Envelope
    queue: str  # the consumer's queue it was taken from: where a replay puts it back
    error: str
    attempts: int


class MessageBus(ABC):
    """A topic bus: every subscription gets its own durable queue, bound by event type."""

    @abstractmethod
    async def publish(self, envelope: Envelope) -> None:
        """Deliver durably to every queue bound to `envelope.type`; returns once the broker has it.

        Raises BusUnavailable if the broker cannot be reached."""

    @abstractmethod
    async def subscribe(self, subscription: Subscription) -> None:
        """Start consuming `subscription.event_type` into the service's queue."""

    async def ping(self) -> None:
        """Raise BusUnavailable if the broker cannot be reached now (readiness)."""

    @abstractmethod
    async def dead_letters(self, service: str) -> list[Envelope]:
        """Take the envelopes a service dead-lettered (for operators and tests)."""

    @abstractmethod
    async def peek_dead_letters(self, service: str) -> list[DeadLetter]:
        """The service's dead letters, left where they are (the job console lists them)."""

    @abstractmethod
    async def replay_dead_letters(self, service: str) -> int:
        """Put the service's dead letters back on the queues they came from, as first deliveries;
        returns how many. Consumers are idempotent, so replaying what was handled since changes nothing."""

    @abstractmethod
    async def close(self) -> None:
        """Stop consuming; deliveries in flight are not acked and will come again."""
