"""Sending recorded deliveries: signed, retried with growing delay for a day, then marked failed.

Each attempt POSTs the envelope's wire JSON with

- `Vodkit-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed with the webhook's secret>`
  (the receiver recomputes it, and refuses an old `t` to stop replays);
- `Vodkit-Event-Id`: the envelope's id, the same on every attempt, to drop duplicates by.

Only a 2xx answer delivers. Anything else (a 3xx, as redirects are never followed; a 4xx, a 5xx, a
timeout, a refused address) is a failed attempt, retried after `base · 2^(attempts-1)` seconds,
capped at `max_delay_s`, for `retry_for_s` from when the delivery was recorded (or redelivered);
past that it is `failed`. Answers are read for at most `EXCERPT_BYTES` and kept only as that excerpt.

`DeliveryLoop.run_due` runs about once a second (`running_every`). It claims each due delivery
with a compare-and-set lease, so gateway replicas never send the same attempt at once, and a
replica that dies mid-attempt leaves a lease that lapses, after which the attempt is made again.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
import uuid
from dataclasses import dataclass

import aiohttp
from prometheus_client import Counter

from vodkit_gateway.webhook_guard import AddressGuard, AddressRefused
from vodkit_gateway.webhooks import Clock, Deliveries, DeliveryRecord, Webhooks

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Vodkit-Signature"
EVENT_ID_HEADER = "Vodkit-Event-Id"
EXCERPT_BYTES = 256
PARALLEL_SENDS = 16
ROUND_SIZE = 200  # deliveries one round looks at; the next round, a second later, takes the rest

ATTEMPTS = Counter("vodkit_webhook_attempts_total", "Webhook delivery attempts, by outcome", ["outcome"])


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The `Vodkit-Signature` header of `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass(frozen=True)
class RetrySchedule:
    base_delay_s: float
    max_delay_s: float
    retry_for_s: float

    def delay_after(self, attempts: int) -> float:
        """Wait after the `attempts`-th failed attempt: base, 2·base, 4·base, … up to `max_delay_s`."""
        return min(self.base_delay_s * 2.0 ** min(attempts - 1, 64), self.max_delay_s)

    def next_attempt_at(self, attempts: int, retry_from: float, now: float) -> float | None:
        """When to try again after `attempts` failed ones; None once that falls past the retry window."""
        at = now + self.delay_after(attempts)
        return at if at <= retry_from + self.retry_for_s else None


@dataclass(frozen=True)
class Attempt:
    status: int | None  # the receiver's answer; None if there was none
    error: str | None
    excerpt: str | None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def after_attempt(delivery: DeliveryRecord, attempt: Attempt, schedule: RetrySchedule, now: float) -> DeliveryRecord:
    """The delivery once `attempt` is made: delivered, pending again, or failed for good."""
    attempts = delivery.attempts + 1
    next_at = None if attempt.delivered else schedule.next_attempt_at(attempts, delivery.retry_from, now)
    state = "delivered" if attempt.delivered else "pending" if next_at is not None else "failed"
    return delivery.model_copy(
        update={
            "state": state,
            "attempts": attempts,
            "next_attempt_at": next_at,
            "worker": "",
            "lease_until": 0.0,
            "last_status": attempt.status,
            "last_error": attempt.error,
            "response_excerpt": attempt.excerpt,
            "updated_at": now,
            "delivered_at": now if attempt.delivered else delivery.delivered_at,
        }
    )


class WebhookSender:
    """One POST per attempt, through a connector that reaches only addresses the guard allows."""

    def __init__(self, session: aiohttp.ClientSession, clock: Clock = time.time) -> None:
        self._session = session
        self._clock = clock

    @staticmethod
    def session(guard: AddressGuard, connect_timeout_s: float, timeout_s: float) -> aiohttp.ClientSession:
        """No proxies from the environment, no cookies, no pooled connections to arbitrary hosts."""
        timeout = aiohttp.ClientTimeout(total=timeout_s, connect=connect_timeout_s, sock_connect=connect_timeout_s)
        return aiohttp.ClientSession(
            connector=guard.connector(force_close=True, limit=PARALLEL_SENDS),
            timeout=timeout,
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
            auto_decompress=False,
        )

    async def send(self, url: str, secret: str, event_id: str, body: bytes) -> Attempt:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "vodkit-webhooks/1",
            SIGNATURE_HEADER: signature(secret, int(self._clock()), body),
            EVENT_ID_HEADER: event_id,
        }
        try:
            async with self._session.post(url, data=body, headers=headers, allow_redirects=False) as response:
                excerpt = (await response.content.read(EXCERPT_BYTES)).decode("utf-8", "replace")
                return Attempt(response.status, _refusal(response.status), excerpt)
        except TimeoutError:
            return Attempt(None, "timed out", None)
        except aiohttp.ClientConnectorError as error:
            if isinstance(error.os_error, AddressRefused):
                return Attempt(None, str(error.os_error), None)
            return Attempt(None, f"could not connect: {error.os_error.strerror or type(error.os_error).__name__}", None)
        except aiohttp.InvalidURL:
            return Attempt(None, "the URL is not one webhooks may call", None)
        except aiohttp.ClientError as error:
            return Attempt(None, f"the request failed: {type(error).__name__}", None)


def _refusal(status: int) -> str | None:
    if 200 <= status < 300:
        return None
    if 300 <= status < 400:
        return f"answered {status}: redirects are not followed"
    return f"answered {status}"


class DeliveryLoop:
    def __init__(
        self,
        webhooks: Webhooks,
        deliveries: Deliveries,
        sender: WebhookSender,
        schedule: RetrySchedule,
        lease_s: float,
        clock: Clock = time.time,
    ) -> None:
        self._webhooks = webhooks
        self._deliveries = deliveries
        self._sender = sender
        self._schedule = schedule
        self._lease_s = lease_s
        self._clock = clock
        self._worker = uuid.uuid4().hex  # this replica, in the leases it holds
        self._slots = asyncio.Semaphore(PARALLEL_SENDS)

    async def run_due(self) -> int:
        """Attempt every due delivery (a slow receiver holds one slot, not the round); returns how many were sent."""
        due = (await self._deliveries.due(self._clock()))[:ROUND_SIZE]
        sent = await asyncio.gather(*(self._attempt(delivery.delivery_id) for delivery in due))
        return sum(sent)

    async def _attempt(self, delivery_id: str) -> bool:
        async with self._slots:
            held = await self._deliveries.claim(delivery_id, self._worker, self._clock(), self._lease_s)
            if held is None:
                return False
            hook = await self._webhooks.get(held.webhook_id)
            if hook is None:  # deleted after this delivery was recorded: its deliveries stop
                await self._deliveries.delete(delivery_id)
                return False
            attempt = await self._sender.send(hook.url, hook.secret, held.event_id, held.body.encode())
            done = await self._deliveries.finish(
                delivery_id, self._worker, lambda d: after_attempt(d, attempt, self._schedule, self._clock())
            )
        outcome = done.state if done else "lost-lease"
        ATTEMPTS.labels("retry" if outcome == "pending" else outcome).inc()
        log.info(
            "webhook attempt",
            extra={
                "webhookId": hook.webhook_id,
                "eventId": held.event_id,
                "videoId": held.video_id,
                "answer": attempt.status,
                "result": outcome,
            },
        )
        return True
