"""A transcode never holds its RabbitMQ delivery: the broker's consumer timeout cannot kill or repeat it.

RabbitMQ closes a channel whose delivery stays unacked past `consumer_timeout` (30 min by default)
and redelivers the message. This broker (3.10) checks that on a 60 s tick and has no per-queue
setting, so rather than wait minutes for it, the test shows what makes it harmless: while ffmpeg is
running, the `video.assembled` delivery is already acked, and a redelivered copy starts nothing.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest
from aiohttp import web

from tests.support import AMQP_URL, eventually, make_clip, need_rabbitmq
from vodkit_shared.bus import RetryPolicy, Subscription
from vodkit_shared.bus.rabbitmq import RabbitBus
from vodkit_shared.events import Envelope, RenditionReady, VideoAssembled
from vodkit_shared.metadata import open_metadata
from vodkit_shared.storage import open_storage
from vodkit_transcoder.app import create_app
from vodkit_transcoder.jobs import JobQueue
from vodkit_transcoder.settings import TranscoderSettings

pytestmark = pytest.mark.e2e


def unacked(queue: str) -> int:
    out = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "name", "messages_unacknowledged"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    counts = dict(line.split("\t") for line in out.strip().splitlines() if "\t" in line)
    return int(counts.get(queue, "0"))


async def test_the_delivery_is_acked_while_the_transcode_runs_and_a_redelivery_starts_nothing(tmp_path: Path) -> None:
    need_rabbitmq()
    exchange = f"longjob-{uuid.uuid4().hex[:8]}"
    settings = TranscoderSettings(
        bus_url=f"{AMQP_URL}?queue_expiry_s=300",
        bus_exchange=exchange,
        data_dir=tmp_path / "data",
        x264_preset="medium",
        job_lease_s=3,
    )
    storage = await open_storage(settings.resolved_storage_url())
    clip = make_clip(tmp_path / "clip.mp4", seconds=12, width=1280, height=720)
    await storage.put_file("originals/v1/source", clip)
    probe = RabbitBus(AMQP_URL, exchange, RetryPolicy(), queue_expiry_s=300)
    await probe.connect()
    ready: list[Envelope] = []

    async def on_ready(envelope: Envelope) -> None:
        ready.append(envelope)

    await probe.subscribe(Subscription("probe", RenditionReady.TYPE, on_ready))
    runner = web.AppRunner(create_app(settings))
    await runner.setup()
    metadata = await open_metadata(settings.resolved_db_url())
    jobs = JobQueue(metadata.collection("transcode_jobs"), 3, RetryPolicy())
    try:
        assembled = Envelope.wrap(VideoAssembled(source_key="originals/v1/source", size=1), video_id="v1")
        await probe.publish(assembled)

        async def running() -> bool:
            job = await jobs.get("v1")
            return job is not None and job.state == "running"

        await eventually(running, timeout=30)
        assert unacked(f"{exchange}.transcoder.video.assembled") == 0  # acked while ffmpeg works
        await probe.publish(assembled)  # what the broker would redeliver after its timeout

        async def done() -> bool:
            job = await jobs.get("v1")
            return job is not None and job.state == "done"

        await eventually(done, timeout=240)
        await eventually(lambda: len(ready) == 2)
        job = await jobs.get("v1")
        assert job is not None
        assert (job.attempts, job.crashes) == (0, 0)  # never failed, never killed (claims count neither)
        assert sorted(e.payload(RenditionReady).rung for e in ready) == ["480p", "720p"]
    finally:
        await runner.cleanup()
        await probe.close()
        await metadata.close()
