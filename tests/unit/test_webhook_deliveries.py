"""Webhook deliveries: recorded once per webhook and event, for the video's owner only; claimed by one
replica at a time; and what an attempt makes of the receiver's answer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from vodkit_gateway.videos import VideoRecord, Videos
from vodkit_gateway.webhook_delivery import EXCERPT_BYTES, Attempt, DeliveryLoop, RetrySchedule, WebhookSender
from vodkit_gateway.webhook_guard import AddressGuard
from vodkit_gateway.webhooks import Deliveries, WebhookFanOut, Webhooks, new_webhook
from vodkit_shared.events import Envelope, PackageDone, VideoDeleted, VideoFailed
from vodkit_shared.metadata import MetadataStore, open_metadata
from vodkit_shared.service import start_site

pytestmark = pytest.mark.unit
SCHEDULE = RetrySchedule(base_delay_s=10, max_delay_s=3600, retry_for_s=3600)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Parts:
    def __init__(self, store: MetadataStore, clock: Clock) -> None:
        self.videos = Videos(store.collection("videos"))
        self.webhooks = Webhooks(store.collection("webhooks"))
        self.deliveries = Deliveries(store.collection("webhook_deliveries"))
        self.fan_out = WebhookFanOut(self.videos, self.webhooks, self.deliveries, clock)

    async def video(self, owner: str) -> str:
        video_id = str(uuid.uuid4())
        await self.videos.create(VideoRecord(video_id=video_id, owner=owner, filename="a.mp4", size=1))
        return video_id

    async def webhook(self, owner: str, *events: str) -> str:
        hook = new_webhook(owner, "http://receiver.example/hook", list(events), 0.0)
        await self.webhooks.create(hook)
        return hook.webhook_id


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def parts(tmp_path: Path, clock: Clock) -> AsyncIterator[Parts]:
    store = await open_metadata(f"sqlite:///{tmp_path / 'meta.db'}")
    yield Parts(store, clock)
    await store.close()


def _done(video_id: str) -> Envelope:
    return Envelope.wrap(
        PackageDone(master_key="m", prefix="p", renditions=["480p"], duration_seconds=1.0), video_id=video_id
    )


async def test_a_user_hears_only_of_their_own_videos_and_only_the_types_they_asked_for(parts: Parts) -> None:
    mine, theirs = await parts.video("alice"), await parts.video("bob")
    done_only = await parts.webhook("alice", "package.done")
    failures = await parts.webhook("alice", "video.failed")
    bobs = await parts.webhook("bob", "package.done")
    for envelope in (_done(mine), _done(theirs), Envelope.wrap(VideoFailed(stage="x", reason="y"), video_id=theirs)):
        await parts.fan_out.on_event(envelope)
    [delivery] = await parts.deliveries.of_webhook(done_only)
    assert (delivery.video_id, delivery.owner, delivery.event_type) == (mine, "alice", "package.done")
    assert await parts.deliveries.of_webhook(failures) == []  # bob's failure is not alice's business
    assert [d.video_id for d in await parts.deliveries.of_webhook(bobs)] == [theirs]


async def test_a_redelivered_event_records_no_second_delivery_and_the_body_is_the_envelope(parts: Parts) -> None:
    hook = await parts.webhook("alice", "package.done")
    envelope = _done(await parts.video("alice"))
    await parts.fan_out.on_event(envelope)
    await parts.fan_out.on_event(envelope)
    [delivery] = await parts.deliveries.of_webhook(hook)
    assert delivery.event_id == str(envelope.id)
    assert Envelope.from_json(delivery.body.encode()) == envelope


async def test_video_deleted_reaches_the_owner_named_in_it_after_the_record_is_gone(parts: Parts) -> None:
    hook = await parts.webhook("alice", "video.deleted")
    video_id = str(uuid.uuid4())  # no record: the API deletes it once the event is out
    await parts.fan_out.on_event(Envelope.wrap(VideoDeleted(owner="alice", prefixes=[]), video_id=video_id))
    assert [d.video_id for d in await parts.deliveries.of_webhook(hook)] == [video_id]


class SlowSender(WebhookSender):
    def __init__(self, answer: Attempt) -> None:
        self.sent: list[str] = []
        self.answer = answer
        self.release = asyncio.Event()

    async def send(self, url: str, secret: str, event_id: str, body: bytes) -> Attempt:
        self.sent.append(event_id)
        await self.release.wait()
        return self.answer


async def test_two_replicas_never_send_the_same_attempt(parts: Parts, clock: Clock) -> None:
    hook = await parts.webhook("alice", "package.done")
    await parts.fan_out.on_event(_done(await parts.video("alice")))
    sender = SlowSender(Attempt(200, None, "ok"))
    replicas = [DeliveryLoop(parts.webhooks, parts.deliveries, sender, SCHEDULE, 60, clock) for _ in range(2)]
    rounds = [asyncio.create_task(loop.run_due()) for loop in replicas]
    await asyncio.sleep(0.3)
    sender.release.set()
    assert sorted(await asyncio.gather(*rounds)) == [0, 1]
    assert len(sender.sent) == 1
    [delivery] = await parts.deliveries.of_webhook(hook)
    assert (delivery.state, delivery.attempts) == ("delivered", 1)


async def test_an_attempt_whose_replica_died_is_made_again_once_its_lease_lapses(parts: Parts, clock: Clock) -> None:
    hook = await parts.webhook("alice", "package.done")
    await parts.fan_out.on_event(_done(await parts.video("alice")))
    [recorded] = await parts.deliveries.of_webhook(hook)
    assert await parts.deliveries.claim(recorded.delivery_id, "dead-replica", clock.now, 60) is not None
    sender = SlowSender(Attempt(200, None, "ok"))
    sender.release.set()
    loop = DeliveryLoop(parts.webhooks, parts.deliveries, sender, SCHEDULE, 60, clock)
    assert await loop.run_due() == 0  # held by a lease still running
    clock.now += 61
    assert await loop.run_due() == 1
    [delivery] = await parts.deliveries.of_webhook(hook)
    assert (delivery.state, sender.sent) == ("delivered", [recorded.event_id])


async def test_a_failed_attempt_waits_its_turn_and_a_deleted_webhook_gets_nothing_more(
    parts: Parts, clock: Clock
) -> None:
    hook = await parts.webhook("alice", "package.done")
    await parts.fan_out.on_event(_done(await parts.video("alice")))
    sender = SlowSender(Attempt(500, "answered 500", "oops"))
    sender.release.set()
    loop = DeliveryLoop(parts.webhooks, parts.deliveries, sender, SCHEDULE, 60, clock)
    assert await loop.run_due() == 1
    [delivery] = await parts.deliveries.of_webhook(hook)
    assert (delivery.state, delivery.attempts, delivery.next_attempt_at) == ("pending", 1, clock.now + 10)
    clock.now += 5
    assert await loop.run_due() == 0  # not due yet
    await parts.webhooks.delete(hook)  # as the API does, but leaving the log: the loop drops it itself
    clock.now += 5
    assert await loop.run_due() == 0
    assert (len(sender.sent), await parts.deliveries.of_webhook(hook)) == (1, [])


async def test_redeliver_makes_a_finished_delivery_due_now_with_a_fresh_window(parts: Parts, clock: Clock) -> None:
    hook = await parts.webhook("alice", "package.done")
    await parts.fan_out.on_event(_done(await parts.video("alice")))
    [recorded] = await parts.deliveries.of_webhook(hook)
    await parts.deliveries.claim(recorded.delivery_id, "me", clock.now, 60)
    held = await parts.deliveries.redeliver(recorded.delivery_id, clock.now)
    assert held is not None
    assert held.state == "sending"
    await parts.deliveries.finish(recorded.delivery_id, "me", lambda d: d.model_copy(update={"state": "failed"}))
    clock.now += 100
    again = await parts.deliveries.redeliver(recorded.delivery_id, clock.now)
    assert again is not None
    assert (again.state, again.next_attempt_at, again.retry_from) == ("pending", clock.now, clock.now)


@pytest.fixture
async def receiver() -> AsyncIterator[str]:
    async def moved(_: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": "/elsewhere"})

    async def elsewhere(_: web.Request) -> web.Response:
        raise AssertionError("a redirect was followed")

    async def chatty(_: web.Request) -> web.Response:
        return web.Response(status=500, text="x" * 100_000)

    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(text="late")

    app = web.Application()
    for path, handler in (("/moved", moved), ("/elsewhere", elsewhere), ("/chatty", chatty), ("/slow", slow)):
        app.router.add_post(path, handler)
    runner, port = await start_site(app, "127.0.0.1", 0)
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def _attempt(url: str, timeout_s: float = 5) -> Attempt:
    async with WebhookSender.session(AddressGuard(allow_private=True), 1, timeout_s) as http:
        return await WebhookSender(http).send(url, "whsec_x", "event-1", b"{}")


async def test_a_redirect_is_a_failed_attempt_and_is_not_followed(receiver: str) -> None:
    attempt = await _attempt(f"{receiver}/moved")
    assert (attempt.status, attempt.delivered) == (302, False)
    assert attempt.error == "answered 302: redirects are not followed"


async def test_only_a_short_excerpt_of_the_answer_is_read_and_kept(receiver: str) -> None:
    attempt = await _attempt(f"{receiver}/chatty")
    assert (attempt.status, attempt.excerpt) == (500, "x" * EXCERPT_BYTES)


async def test_a_receiver_slower_than_the_timeout_is_a_failed_attempt(receiver: str) -> None:
    started = asyncio.get_running_loop().time()
    attempt = await _attempt(f"{receiver}/slow", timeout_s=0.5)
    assert (attempt.status, attempt.error) == (None, "timed out")
    assert asyncio.get_running_loop().time() - started < 2


async def test_nothing_listening_is_a_failed_attempt() -> None:
    attempt = await _attempt("http://127.0.0.1:9/hook")
    assert attempt.status is None
    assert attempt.error is not None
    assert attempt.error.startswith("could not connect")


async def test_a_receiver_that_keeps_failing_gets_retries_until_the_window_closes_then_the_delivery_fails(
    parts: Parts, clock: Clock, receiver: str
) -> None:
    hook = new_webhook("alice", f"{receiver}/chatty", ["package.done"], 0.0)  # always a 500
    await parts.webhooks.create(hook)
    await parts.fan_out.on_event(_done(await parts.video("alice")))
    schedule = RetrySchedule(base_delay_s=0.1, max_delay_s=0.25, retry_for_s=1.0)
    tried_at: list[float] = []
    async with WebhookSender.session(AddressGuard(allow_private=True), 1, 2) as http:
        loop = DeliveryLoop(parts.webhooks, parts.deliveries, WebhookSender(http), schedule, 30, clock)
        for _ in range(10):
            if await loop.run_due():
                tried_at.append(round(clock.now - 1000, 2))
            clock.now += 0.25  # binary fractions: no rounding at the window's edge
    [delivery] = await parts.deliveries.of_webhook(hook.webhook_id)
    # waits of 0.1, 0.2, then 0.25 s (capped); the one due at +1.0 is the window's last, the next would fall past it
    assert tried_at == [0, 0.25, 0.5, 0.75, 1.0]
    assert (delivery.state, delivery.attempts, delivery.next_attempt_at) == ("failed", 5, None)
    assert (delivery.last_status, delivery.last_error) == (500, "answered 500")


async def test_ended_deliveries_are_forgotten_after_the_keep_time_and_pending_ones_never(
    parts: Parts, clock: Clock
) -> None:
    hook = await parts.webhook("alice", "package.done")
    for _ in range(2):
        await parts.fan_out.on_event(_done(await parts.video("alice")))
    first, second = await parts.deliveries.of_webhook(hook)
    await parts.deliveries.claim(first.delivery_id, "me", clock.now, 60)
    await parts.deliveries.finish(first.delivery_id, "me", lambda d: d.model_copy(update={"state": "delivered"}))
    assert await parts.deliveries.forget_finished(before=first.updated_at) == 0
    assert await parts.deliveries.forget_finished(before=first.updated_at + 1) == 1
    assert [d.delivery_id for d in await parts.deliveries.of_webhook(hook)] == [second.delivery_id]
