"""Webhooks: who wants which events at which URL, and one delivery per webhook and event.

A user's webhook hears only events about the user's own videos. `WebhookFanOut.on_event` consumes
every event type on the gateway's `gateway-webhooks` queues (their own, so a slow fan-out never holds
back the status projection, and their own dead letters): it finds the video's owner and the owner's
webhooks for that type, and records one delivery for each before it returns, so the bus acks an event
only once its deliveries are stored (at least once). A delivery's id is fixed by its webhook and the
event's id, so a redelivered event records nothing twice. Sending is `webhook_delivery.py`'s.

A delivery keeps the envelope's wire JSON: deleting the video loses nothing already recorded, and
every attempt sends the same bytes. Deleting a webhook deletes its deliveries (and the delivery
loop drops any recorded after that); deliveries that ended are kept `webhook_log_keep_s` (7 days).
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel

from vodkit_gateway.videos import Videos
from vodkit_shared.events import Envelope, VideoDeleted
from vodkit_shared.metadata import Collection, Document, DuplicateKey

DeliveryState = Literal["pending", "sending", "delivered", "failed"]
Clock = Callable[[], float]
_DELIVERY_IDS = uuid.UUID("b5a0f3e2-7c41-4d0a-9f1e-3c8d2a6b4e17")
DELIVERY_LOG_LENGTH = 100  # deliveries a webhook's log shows, newest first


class WebhookRecord(BaseModel):
    webhook_id: str
    owner: str
    url: str
    events: list[str]
    secret: str  # kept to sign with; shown once, when the webhook is made
    created_at: float


class DeliveryRecord(BaseModel):
    delivery_id: str
    webhook_id: str
    owner: str
    event_id: str
    event_type: str
    video_id: str
    body: str  # the envelope's wire JSON, sent as it is by every attempt
    state: DeliveryState = "pending"
    attempts: int = 0  # attempts that got an answer or an error
    retry_from: float  # retries stop `retry_for_s` after this (its recording, or a redeliver)
    next_attempt_at: float | None
    lease_until: float = 0.0  # while `sending`: the worker holding it
    worker: str = ""
    last_status: int | None = None
    last_error: str | None = None
    response_excerpt: str | None = None
    created_at: float
    updated_at: float
    delivered_at: float | None = None


def delivery_id(webhook_id: str, event_id: str) -> str:
    return str(uuid.uuid5(_DELIVERY_IDS, f"{webhook_id}:{event_id}"))


def new_webhook(owner: str, url: str, events: list[str], now: float) -> WebhookRecord:
    return WebhookRecord(
        webhook_id=str(uuid.uuid4()),
        owner=owner,
        url=url,
        events=sorted(set(events)),
        secret=f"whsec_{secrets.token_urlsafe(32)}",
        created_at=now,
    )


class Webhooks:
    def __init__(self, collection: Collection) -> None:
        self._c = collection

    async def create(self, webhook: WebhookRecord) -> None:
        await self._c.insert(webhook.webhook_id, webhook.model_dump())

    async def get(self, webhook_id: str) -> WebhookRecord | None:
        doc = await self._c.get(webhook_id)
        return WebhookRecord.model_validate(doc) if doc else None

    async def owned_by(self, owner: str) -> list[WebhookRecord]:
        found = map(WebhookRecord.model_validate, await self._c.find("owner", owner))
        return sorted(found, key=lambda hook: hook.created_at)

    async def subscribed(self, owner: str, event_type: str) -> list[WebhookRecord]:
        return [hook for hook in await self.owned_by(owner) if event_type in hook.events]

    async def delete(self, webhook_id: str) -> bool:
        return await self._c.delete(webhook_id)


class Deliveries:
    def __init__(self, collection: Collection) -> None:
        self._c = collection

    async def record(self, delivery: DeliveryRecord) -> bool:
        """Store a new delivery; False if it is recorded already (a redelivered event)."""
        try:
            await self._c.insert(delivery.delivery_id, delivery.model_dump())
        except DuplicateKey:
            return False
        return True

    async def get(self, delivery_id: str) -> DeliveryRecord | None:
        doc = await self._c.get(delivery_id)
        return DeliveryRecord.model_validate(doc) if doc else None

    async def of_webhook(self, webhook_id: str, limit: int = DELIVERY_LOG_LENGTH) -> list[DeliveryRecord]:
        found = map(DeliveryRecord.model_validate, await self._c.find("webhook_id", webhook_id))
        return sorted(found, key=lambda d: (-d.created_at, d.delivery_id))[:limit]

    async def due(self, now: float) -> list[DeliveryRecord]:
        """Deliveries to attempt now: pending and due, or `sending` under a lapsed lease (its worker died)."""
        pending = [DeliveryRecord.model_validate(doc) for doc in await self._c.find("state", "pending")]
        sending = [DeliveryRecord.model_validate(doc) for doc in await self._c.find("state", "sending")]
        due = [d for d in [*pending, *sending] if claimable(d, now)]
        return sorted(due, key=lambda d: d.next_attempt_at or 0.0)

    async def claim(self, delivery_id: str, worker: str, now: float, lease_s: float) -> DeliveryRecord | None:
        """Take the delivery for one attempt (compare-and-set): None if another worker was quicker."""

        def take(doc: Document) -> Document | None:
            if not claimable(DeliveryRecord.model_validate(doc), now):
                return None
            return {**doc, "state": "sending", "worker": worker, "lease_until": now + lease_s}

        doc = await self._c.update(delivery_id, take)
        held = DeliveryRecord.model_validate(doc) if doc else None
        return held if held and held.state == "sending" and held.worker == worker and held.lease_until > now else None

    async def finish(
        self, delivery_id: str, worker: str, outcome: Callable[[DeliveryRecord], DeliveryRecord]
    ) -> DeliveryRecord | None:
        """Record an attempt's outcome, if the delivery is still this worker's; None if it is not."""

        settled: list[DeliveryRecord] = []

        def settle(doc: Document) -> Document | None:
            settled.clear()
            delivery = DeliveryRecord.model_validate(doc)
            if delivery.state != "sending" or delivery.worker != worker:
                return None
            settled.append(outcome(delivery))
            return settled[0].model_dump()

        stored = await self._c.update(delivery_id, settle)
        return settled[0] if settled and stored is not None else None

    async def redeliver(self, delivery_id: str, now: float) -> DeliveryRecord | None:
        """Send again now, with a fresh retry window; one attempt in flight is left to finish."""

        def again(doc: Document) -> Document | None:
            delivery = DeliveryRecord.model_validate(doc)
            if delivery.state == "sending" and delivery.lease_until > now:
                return None
            fresh = {"state": "pending", "next_attempt_at": now, "retry_from": now, "worker": "", "lease_until": 0.0}
            return {**doc, **fresh, "updated_at": now}

        doc = await self._c.update(delivery_id, again)
        return DeliveryRecord.model_validate(doc) if doc else None

    async def delete(self, delivery_id: str) -> bool:
        return await self._c.delete(delivery_id)

    async def forget_finished(self, before: float) -> int:
        """Delete deliveries that ended (delivered or failed) before `before`; returns how many."""
        removed = 0
        for state in ("delivered", "failed"):
            for doc in await self._c.find("state", state):
                if float(doc["updated_at"]) < before:
                    removed += await self._c.delete(str(doc["delivery_id"]))
        return removed

    async def forget_webhook(self, webhook_id: str) -> int:
        removed = 0
        for doc in await self._c.find("webhook_id", webhook_id):
            removed += await self._c.delete(str(doc["delivery_id"]))
        return removed


def claimable(delivery: DeliveryRecord, now: float) -> bool:
    if delivery.state == "pending":
        return (delivery.next_attempt_at or 0.0) <= now
    return delivery.state == "sending" and delivery.lease_until < now


class WebhookFanOut:
    """The `gateway-webhooks` consumer: one delivery per webhook of the video's owner that wants the event."""

    def __init__(self, videos: Videos, webhooks: Webhooks, deliveries: Deliveries, clock: Clock = time.time) -> None:
        self._videos = videos
        self._webhooks = webhooks
        self._deliveries = deliveries
        self._clock = clock

    async def on_event(self, envelope: Envelope) -> None:
        owner = await self._owner(envelope)
        if owner is None:  # a video the gateway never had, or one deleted since: nobody to tell
            return
        body, now = envelope.to_json().decode(), self._clock()
        for hook in await self._webhooks.subscribed(owner, envelope.type):
            await self._deliveries.record(
                DeliveryRecord(
                    delivery_id=delivery_id(hook.webhook_id, str(envelope.id)),
                    webhook_id=hook.webhook_id,
                    owner=owner,
                    event_id=str(envelope.id),
                    event_type=envelope.type,
                    video_id=envelope.video_id,
                    body=body,
                    retry_from=now,
                    next_attempt_at=now,
                    created_at=now,
                    updated_at=now,
                )
            )

    async def _owner(self, envelope: Envelope) -> str | None:
        if envelope.type == VideoDeleted.TYPE:  # the record is gone by now; the event names the owner
            return envelope.payload(VideoDeleted).owner
        video = await self._videos.get(envelope.video_id)
        return video.owner if video else None
