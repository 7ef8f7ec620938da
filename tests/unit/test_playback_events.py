"""`POST /api/playback-events`: what a batch may hold, whose token may send it, and what is stored.

The schema's bounds are checked on the model; the rules only a running gateway can apply (the token's
video, times against its clock, the 202 and what the writer stores) through one served in-process.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import ValidationError

from tests.support import eventually
from vodkit_gateway.analytics_intake import SampleWriter, samples_of, sweep
from vodkit_gateway.analytics_schemas import EXAMPLE, MAX_EVENTS, PlaybackBatch
from vodkit_gateway.app import create_app
from vodkit_gateway.keys import ANALYTICS, ANALYTICS_WRITER
from vodkit_gateway.settings import GatewaySettings
from vodkit_shared.analytics import Scope, open_analytics
from vodkit_shared.service import start_site
from vodkit_shared.tokens import Tokens

pytestmark = pytest.mark.unit
SECRET = "playback-events-secret"
VIDEO_A = EXAMPLE["videoId"]
VIDEO_B = "7c9e6679-7425-40de-944b-e07fc1f90ae7"


def batch(**changes: Any) -> dict[str, Any]:
    """The documented example, its events moved to now."""
    body = copy.deepcopy(EXAMPLE)
    now = time.time()
    for offset, event in enumerate(body["events"]):
        event["at"] = now - 10 + offset
    body.update(changes)
    return body


def with_event(index: int, **changes: Any) -> dict[str, Any]:
    body = batch()
    body["events"][index].update(changes)
    return body


# ---- the schema --------------------------------------------------------------------------------


def test_the_documented_example_is_a_valid_batch() -> None:
    parsed = PlaybackBatch.model_validate(batch())
    assert [event.type for event in parsed.events] == ["view", "level", "buffer", "stall", "error"]


@pytest.mark.parametrize(
    "body",
    [
        batch(extra=1),  # unknown field of the batch
        with_event(0, colour="red"),  # unknown field of an event
        with_event(2, type="heartbeat"),  # unknown event type
        with_event(0, startup=-0.1),
        with_event(0, startup=601),
        with_event(2, bufferHealth=3601),
        with_event(2, position=-1),
        with_event(2, watch=601),
        with_event(2, droppedFrames=-1),
        with_event(1, bitrate=10**9 + 1),
        with_event(1, height=8641),
        with_event(1, quality="high"),
        with_event(4, details="<script>"),
        with_event(4, details="x" * 65),
        with_event(3, duration=3601),
        with_event(0, at=10),  # before 2000: not a time a player can have
        with_event(0, at="2026-01-01"),  # times are numbers
        with_event(1, switch="yes"),
        batch(videoId="not-a-uuid"),
        batch(sessionId="short"),
        batch(sessionId="x" * 65),
        batch(viewerId="has space!"),
        batch(seq=-1),
        batch(seq=100_001),
        batch(seq="1"),
        batch(events=[]),
        batch(events=[batch()["events"][2]] * (MAX_EVENTS + 1)),
    ],
)
def test_out_of_bounds_and_unknown_fields_are_refused(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        PlaybackBatch.model_validate(body)


def test_a_whole_number_is_a_number_of_seconds_and_a_float_integer_an_integer() -> None:
    parsed = PlaybackBatch.model_validate(with_event(1, bitrate=2800000.0, height=720.0))
    assert parsed.events[1].bitrate == 2800000  # type: ignore[union-attr]
    assert PlaybackBatch.model_validate(with_event(0, startup=1)).events[0].startup == 1.0  # type: ignore[union-attr]


# ---- through a gateway ---------------------------------------------------------------------------


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[tuple[str, web.Application]]:
    settings = GatewaySettings(
        auth_secret=SECRET,
        data_dir=tmp_path,
        bus_url=f"memory://events-{uuid.uuid4().hex}",
        sweep_interval_s=3600,
        rate_limit_analytics=5,
    )  # type: ignore[call-arg]
    app = create_app(settings)
    runner, port = await start_site(app, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        await runner.cleanup()


def token(video: str) -> str:
    return Tokens(SECRET).playback_token(video, 3600)


async def post(base: str, body: Any, query: str, **headers: str) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{base}/api/playback-events{query}", json=body, headers=headers) as response,
    ):
        return response.status, await response.json()


async def test_an_accepted_batch_is_stored(gateway: tuple[str, web.Application]) -> None:
    """It was answered 202 before it was stored (a writer's flush a second later): a crash lost acknowledged reports."""
    base, app = gateway
    status, body = await post(base, batch(), f"?token={token(VIDEO_A)}")
    assert (status, body) == (202, {"accepted": 5})
    today = dt.datetime.now(dt.UTC).date()
    report = await app[ANALYTICS].report(Scope(today - dt.timedelta(days=1), today, VIDEO_A))
    assert (report.summary.views, report.summary.stall_count, report.summary.errors) == (1, 1, 1)
    assert report.summary.startup_p50 == 0.84
    assert report.qualities[0].quality == "720p"


async def test_a_signed_in_viewer_is_the_user_and_an_anonymous_one_the_players_id(
    gateway: tuple[str, web.Application],
) -> None:
    base, app = gateway
    user = Tokens(SECRET).user_token("alice")
    assert (await post(base, batch(), f"?token={token(VIDEO_A)}", Authorization=f"Bearer {user}"))[0] == 202
    again = batch(sessionId="another-session", viewerId="another-player")
    assert (await post(base, again, f"?token={token(VIDEO_A)}", Authorization=f"Bearer {user}"))[0] == 202
    anonymous = batch(sessionId="third-session")
    assert (await post(base, anonymous, f"?token={token(VIDEO_A)}"))[0] == 202
    today = dt.datetime.now(dt.UTC).date()
    summary = (await app[ANALYTICS].report(Scope(today - dt.timedelta(days=1), today, VIDEO_A))).summary
    assert (summary.views, summary.unique_viewers) == (3, 2)  # alice twice, one anonymous player


async def test_a_token_for_another_video_cannot_report(gateway: tuple[str, web.Application]) -> None:
    base, _ = gateway
    status, body = await post(base, batch(), f"?token={token(VIDEO_B)}")
    assert status == 403
    assert "another video" in body["error"]["message"]


@pytest.mark.parametrize("query", ["", "?token=", "?token=not-a-jwt"])
async def test_no_valid_playback_token_is_403(gateway: tuple[str, web.Application], query: str) -> None:
    assert (await post(gateway[0], batch(), query))[0] == 403


async def test_a_user_token_is_no_playback_token(gateway: tuple[str, web.Application]) -> None:
    assert (await post(gateway[0], batch(), f"?token={Tokens(SECRET).user_token('alice')}"))[0] == 403


@pytest.mark.parametrize(("offset", "what"), [(400, "in the future"), (-86400 - 60, "older than")])
async def test_times_must_be_recent(gateway: tuple[str, web.Application], offset: float, what: str) -> None:
    status, body = await post(gateway[0], with_event(3, at=time.time() + offset), f"?token={token(VIDEO_A)}")
    assert status == 400
    assert what in body["error"]["message"]
    assert body["error"]["message"].startswith("events.3.at")


async def test_a_little_clock_skew_is_fine(gateway: tuple[str, web.Application]) -> None:
    assert (await post(gateway[0], with_event(0, at=time.time() + 200), f"?token={token(VIDEO_A)}"))[0] == 202


async def test_a_bad_body_is_400_and_a_big_one_413(gateway: tuple[str, web.Application]) -> None:
    base, _ = gateway
    status, body = await post(base, with_event(0, startup=-1), f"?token={token(VIDEO_A)}")
    assert status == 400
    assert "events.0.view.startup" in body["error"]["message"]
    huge = batch(padding="x" * 20_000)
    assert (await post(base, huge, f"?token={token(VIDEO_A)}"))[0] == 413


async def test_a_batch_sent_twice_is_stored_once(gateway: tuple[str, web.Application]) -> None:
    base, app = gateway
    body = batch()
    for _ in range(2):
        assert (await post(base, body, f"?token={token(VIDEO_A)}"))[0] == 202
    today = dt.datetime.now(dt.UTC).date()
    assert (await app[ANALYTICS].report(Scope(today - dt.timedelta(days=1), today, VIDEO_A))).summary.views == 1


async def test_reports_have_their_own_rate_budget(gateway: tuple[str, web.Application]) -> None:
    base, _ = gateway
    statuses = [(await post(base, batch(seq=n), f"?token={token(VIDEO_A)}"))[0] for n in range(7)]
    assert statuses == [202] * 5 + [429] * 2
    async with aiohttp.ClientSession() as http, http.get(f"{base}/api/videos/public") as response:
        assert response.status == 200  # the read budget is untouched


async def test_a_full_queue_sheds_batches_with_503(gateway: tuple[str, web.Application]) -> None:
    base, app = gateway
    writer = app[ANALYTICS_WRITER]
    writer._capacity = 7  # room for one batch of 5 waiting, not two
    gate, in_write = asyncio.Event(), asyncio.Event()
    store = app[ANALYTICS]
    record = store.record

    async def slow(samples: Any) -> int:
        in_write.set()
        await gate.wait()
        return await record(samples)

    store.record = slow  # type: ignore[method-assign]
    writing = asyncio.create_task(post(base, batch(seq=1), f"?token={token(VIDEO_A)}"))
    await asyncio.wait_for(in_write.wait(), 10)  # in a write, held at the gate
    waiting = asyncio.create_task(post(base, batch(seq=2), f"?token={token(VIDEO_A)}"))
    await eventually(lambda: writer.queued == 5)
    status, body = await post(base, batch(seq=3), f"?token={token(VIDEO_A)}")
    assert status == 503
    assert body["error"]["code"] == "overloaded"
    gate.set()
    assert [(await writing)[0], (await waiting)[0]] == [202, 202]


async def test_a_batch_whose_write_fails_is_answered_503(gateway: tuple[str, web.Application]) -> None:
    base, app = gateway
    store = app[ANALYTICS]
    record = store.record
    calls = 0

    async def down_once(samples: Any) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("the store is down")
        return await record(samples)

    store.record = down_once  # type: ignore[method-assign]
    status, body = await post(base, batch(), f"?token={token(VIDEO_A)}")
    assert (status, body["error"]["code"]) == (503, "storage_unavailable")
    assert (await post(base, batch(), f"?token={token(VIDEO_A)}"))[0] == 202  # the player sends it again
    today = dt.datetime.now(dt.UTC).date()
    assert (await app[ANALYTICS].report(Scope(today - dt.timedelta(days=1), today, VIDEO_A))).summary.views == 1


# ---- the writer ----------------------------------------------------------------------------------


class GatedStore:
    """Keeps what it is given once its gate opens; counts its writes."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.writing = asyncio.Event()
        self.writes: list[list[Any]] = []

    async def record(self, samples: list[Any]) -> int:
        self.writing.set()
        await self.gate.wait()
        self.writes.append(list(samples))
        return len(samples)


def samples(n: int, session: str = "session-1") -> list[Any]:
    parsed = PlaybackBatch.model_validate(batch(sessionId=session))
    return samples_of(parsed, "anon:x")[:n]


async def test_a_write_returns_once_stored_and_batches_that_wait_share_the_next_write() -> None:
    store = GatedStore()
    writer = SampleWriter(store, capacity=100)  # type: ignore[arg-type]
    async with writer.running():
        first = asyncio.create_task(writer.write(samples(2)))
        await asyncio.wait_for(store.writing.wait(), 5)  # taken into a write, which waits at the gate
        later = [asyncio.create_task(writer.write(samples(3, f"session-{n}"))) for n in (2, 3)]
        await asyncio.sleep(0.05)
        assert not first.done()
        assert not any(task.done() for task in later)  # nothing is answered before it is stored
        store.gate.set()
        await asyncio.gather(first, *later)
    assert [len(write) for write in store.writes] == [2, 6]  # the two that waited went in one write


async def test_stopping_the_writer_stores_what_waits() -> None:
    store = GatedStore()
    store.gate.set()
    writer = SampleWriter(store, capacity=100)  # type: ignore[arg-type]
    async with writer.running():
        task = asyncio.create_task(writer.write(samples(3)))
        await asyncio.sleep(0)
    await task
    assert [s.sample_id for s in store.writes[0]] == ["session-1:0:0", "session-1:0:1", "session-1:0:2"]


def test_a_sample_keeps_what_its_event_said() -> None:
    buffer, stall = samples(4)[2:4]
    assert (buffer.kind, buffer.position, buffer.buffer_health, buffer.quality, buffer.watch) == (
        "buffer", 4.9, 18.2, "720p", 4.9,
    )  # fmt: skip
    assert (buffer.dropped_frames, buffer.decoded_frames, stall.kind, stall.stall) == (0, 147, "stall", 1.2)


# ---- retention ------------------------------------------------------------------------------------


async def test_the_sweep_rolls_up_then_expires_old_days(tmp_path: Path) -> None:
    from tests.contract.test_analytics import D1, D2, SAMPLES

    store = await open_analytics(f"sqlite:///{tmp_path / 'meta.db'}")
    try:
        await store.record(SAMPLES)
        assert await sweep(store, 30 * 86400) == len(SAMPLES)  # January's samples are months past 30 days
        report = await store.report(Scope(D1, D2))
        assert report.summary.views == 0
        assert [(d.day, d.source, d.figures.views) for d in report.days] == [
            ("2026-01-05", "rollup", 2),
            ("2026-01-06", "rollup", 2),
        ]
    finally:
        await store.close()
