"""The quick chaos scenarios, part of `make test` (and of `make chaos`, which reports them):
poison messages, one broker outage, SIGTERM in the middle of an encode."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Callable
from pathlib import Path

import aio_pika
import pytest

from tests.chaos.cluster import Figures, Viewer
from tests.chaos.conftest import ClusterFactory
from vodkit_shared.events import Envelope, VideoAssembled

pytestmark = pytest.mark.e2e
SIGTERM_BOUND_S = 10.0
POISON = {
    "bad JSON": (b"{not json", {}),
    "bad envelope": (b'{"type": "video.assembled", "videoId": 7}', {}),
    "bad x-attempt header": (None, {"x-attempt": "abc"}),
}


async def test_poison_messages_are_dead_lettered_with_their_reason_and_later_videos_complete(
    cluster: ClusterFactory, short_clip: Path, report: Callable[[Figures], None]
) -> None:
    started = time.monotonic()
    async with cluster() as c:
        queue = f"{c.exchange}.transcoder.{VideoAssembled.TYPE}"
        poison = Envelope.wrap(VideoAssembled(source_key="originals/nope/source", size=1), video_id="poison-video")
        connection = await aio_pika.connect(c.direct_bus_url)
        async with connection:
            channel = await connection.channel()
            for body, headers in POISON.values():
                message = aio_pika.Message(body or poison.to_json(), headers=headers)  # type: ignore[arg-type]
                await channel.default_exchange.publish(message, routing_key=queue)
            viewer = Viewer(c.base_url, c.token("alice"))
            video = await viewer.upload(short_clip)  # queued behind the poison
            outcomes = await viewer.settle([video], timeout=120)
            dead = await channel.declare_queue(f"{c.exchange}.transcoder.dead-letter", passive=True)
            reasons = []
            while (message := await dead.get(fail=False, no_ack=True)) is not None:
                reasons.append((message.headers.get("x-error"), message.headers.get("x-queue")))
        figures = c.figures("poison messages (3 kinds) then a video", outcomes, time.monotonic() - started)
        figures.where = "make test"
        figures.notes["dead-letter reasons"] = "; ".join(" ".join(str(reason).split())[:70] for reason, _ in reasons)
        report(figures)
    assert outcomes == {video: "completed"}
    assert len(reasons) == len(POISON)
    assert {source for _, source in reasons} == {queue}
    assert all(reason for reason, _ in reasons)
    assert any("x-attempt" in str(reason) for reason, _ in reasons)
    assert sum("not an envelope" in str(reason) for reason, _ in reasons) == 2
    assert figures.double_work == 0


async def test_a_broker_outage_of_5_s_during_an_encode(
    cluster: ClusterFactory, long_clip: Path, report: Callable[[Figures], None]
) -> None:
    started = time.monotonic()
    async with cluster() as c:
        viewer = Viewer(c.base_url, c.token("alice"))
        video = await viewer.upload(long_clip)
        await c.until_encoding()
        await c.broker.cut()
        await asyncio.sleep(5)
        await c.broker.restore()
        back = time.monotonic()
        outcomes = await viewer.settle([video], timeout=240)
        figures = c.figures("broker outage 5 s during an encode", outcomes, time.monotonic() - started)
        figures.where = "make test"
        figures.notes["settled after the broker came back (s)"] = round(time.monotonic() - back, 1)
        figures.notes["5xx answers seen"] = len(viewer.errors_5xx)
        report(figures)
    assert outcomes == {video: "completed"}
    assert viewer.errors_5xx == []
    assert viewer.regressions() == {}
    assert figures.double_work == 0
    assert figures.re_encodes == 0  # the encoded ladder waited for the bus: it was encoded again before


async def test_sigterm_mid_encode_exits_within_10_s_and_another_transcoder_resumes_the_job(
    cluster: ClusterFactory, long_clip: Path, report: Callable[[Figures], None]
) -> None:
    started = time.monotonic()
    async with cluster(transcoders=2) as c:
        viewer = Viewer(c.base_url, c.token("alice"))
        video = await viewer.upload(long_clip)
        encoding = await c.until_encoding()
        before = await c.job(video)
        assert before is not None
        assert before["state"] == "running"
        encoding.supervised = False  # a pod being replaced: its successor starts elsewhere
        assert encoding.process is not None
        term = time.monotonic()
        encoding.process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(encoding.process.wait, 30)
        exit_s = time.monotonic() - term
        resumed_s = None
        while time.monotonic() - term < 60:
            job = await c.job(video)
            assert job is not None
            if job["worker"] not in ("", before["worker"]) or job["state"] == "done":
                resumed_s = time.monotonic() - term
                break
            await asyncio.sleep(0.1)
        outcomes = await viewer.settle([video], timeout=240)
        job = await c.job(video)
        figures = c.figures("SIGTERM mid-encode (2 transcoders)", outcomes, time.monotonic() - started)
        figures.where = "make test"
        figures.notes.update(
            {
                "exit after SIGTERM (s)": round(exit_s, 2),
                "exit status": encoding.process.returncode,
                "job taken by the other transcoder after (s)": None if resumed_s is None else round(resumed_s, 2),
                "job at the end": json.dumps({k: job[k] for k in ("state", "attempts", "crashes")} if job else None),
            }
        )
        report(figures)
    assert exit_s <= SIGTERM_BOUND_S
    assert encoding.process.returncode == 0
    assert resumed_s is not None
    assert resumed_s < 5  # the lease was handed back: no waiting for it to lapse
    assert outcomes == {video: "completed"}
    assert job is not None
    assert (job["attempts"], job["crashes"]) == (0, 0)
