"""The instrumented figures move: a small piece of real work, then the counter, gauge or histogram read back.

Every figure is read as a difference (before, after): the registry is the process's, shared by all tests.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import REGISTRY

from tests.support import TcpLink, eventually, make_clip, need_rabbitmq
from tests.unit.conftest import Adapters
from vodkit_gateway.app import create_app as gateway_app
from vodkit_gateway.settings import GatewaySettings
from vodkit_shared.bus import BusUnavailable, RetryPolicy
from vodkit_shared.bus.rabbitmq import RabbitBus
from vodkit_shared.events import ChunkReceived, Envelope
from vodkit_shared.lifecycle import EndedVideos
from vodkit_shared.metadata import MetadataStore
from vodkit_shared.metrics import withhold_metrics
from vodkit_shared.service import READINESS, STORAGE, service_app
from vodkit_shared.storage import open_storage
from vodkit_shared.tiers import TIERS, Catalogue, TieredStorage
from vodkit_shared.tokens import Tokens, UploadGrant
from vodkit_tiering.mover import Mover
from vodkit_tiering.policy import TierPolicy
from vodkit_tiering.throttle import Throttle
from vodkit_tiering.tiering import Tiering
from vodkit_transcoder.backlog import export_backlog
from vodkit_transcoder.errors import UnsupportedMedia
from vodkit_transcoder.hwaccel import Accel
from vodkit_transcoder.jobs import JobQueue, TranscodeJob
from vodkit_transcoder.runner import JobRunner
from vodkit_transcoder.settings import TranscoderSettings
from vodkit_transcoder.worker import SCRATCH_PREFIX, Transcoder
from vodkit_upload.assembler import Assembler
from vodkit_upload.intake import ChunkForm, ChunkIntake
from vodkit_upload.sessions import UploadSessions
from vodkit_upload.spool import spooled

pytestmark = pytest.mark.unit
VIDEO = "0f0f0f0f-0000-4000-8000-0000000000aa"
Start = Callable[[web.Application], Awaitable[TestClient[web.Request, web.Application]]]


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Moves:
    """What a block of work changed in the registry: `moved(name, **labels)` after minus before."""

    def __init__(self, *watched: tuple[str, dict[str, str]]) -> None:
        self._before = {(name, tuple(sorted(labels.items()))): value(name, **labels) for name, labels in watched}

    def moved(self, name: str, **labels: str) -> float:
        return value(name, **labels) - self._before[(name, tuple(sorted(labels.items())))]


def watch(name: str, **labels: str) -> tuple[str, dict[str, str]]:
    return name, labels


@pytest.fixture
async def client() -> AsyncIterator[Start]:
    clients: list[TestClient[web.Request, web.Application]] = []

    async def start(app: web.Application) -> TestClient[web.Request, web.Application]:
        started = TestClient(TestServer(app))
        await started.start_server()
        clients.append(started)
        return started

    yield start
    for started in clients:
        await started.close()


# ---- HTTP, readiness, /metrics -------------------------------------------------------------------


async def stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    await response.write(b"event: ping\ndata: {}\n\n")
    await asyncio.sleep(0.2)  # a stream stays open: its time is no latency
    await response.write_eof()
    return response


async def test_requests_are_counted_and_timed_but_streams_stay_out_of_the_latency(client: Start) -> None:
    app = service_app("probe-http")
    app.router.add_get("/stream", stream)
    http = await client(app)
    figures = Moves(
        watch("vodkit_http_requests_total", service="probe-http", route="/healthz", status="200"),
        watch("vodkit_http_request_duration_seconds_count", service="probe-http", route="/healthz"),
        watch("vodkit_http_requests_total", service="probe-http", route="/stream", status="200"),
        watch("vodkit_http_request_duration_seconds_count", service="probe-http", route="/stream"),
        watch("vodkit_http_requests_total", service="probe-http", route="unmatched", status="404"),
    )
    for _ in range(3):
        assert (await http.get("/healthz")).status == 200
    assert (await (await http.get("/stream")).read()).startswith(b"event: ping")
    assert (await http.get("/no-such-route")).status == 404
    assert figures.moved("vodkit_http_requests_total", service="probe-http", route="/healthz", status="200") == 3
    assert figures.moved("vodkit_http_request_duration_seconds_count", service="probe-http", route="/healthz") == 3
    assert figures.moved("vodkit_http_requests_total", service="probe-http", route="/stream", status="200") == 1
    assert figures.moved("vodkit_http_request_duration_seconds_count", service="probe-http", route="/stream") == 0
    assert figures.moved("vodkit_http_requests_total", service="probe-http", route="unmatched", status="404") == 1


async def test_readiness_is_exported_as_the_last_probe_found_it(client: Start) -> None:
    app = service_app("probe-ready")
    down = asyncio.Event()

    async def dependency() -> None:
        if down.is_set():
            raise ConnectionError("the store does not answer")

    app[READINESS].append(dependency)
    http = await client(app)
    assert (await http.get("/readyz")).status == 200
    assert value("vodkit_service_ready", service="probe-ready") == 1
    down.set()
    assert (await http.get("/readyz")).status == 503
    assert value("vodkit_service_ready", service="probe-ready") == 0


async def test_an_app_that_withholds_metrics_answers_404_and_the_others_serve_the_registry(client: Start) -> None:
    serving, quiet = service_app("probe-serving"), service_app("probe-quiet")
    withhold_metrics(quiet)
    served = await (await client(serving)).get("/metrics")
    assert served.status == 200
    assert "vodkit_http_requests_total" in await served.text()
    refused = await (await client(quiet)).get("/metrics")
    assert refused.status == 404
    assert (await refused.json())["error"]["code"] == "not_found"


# ---- the bus -------------------------------------------------------------------------------------


async def test_publishes_are_counted_by_type(adapters: Adapters) -> None:
    figures = Moves(watch("vodkit_events_published_total", type=ChunkReceived.TYPE))
    event = ChunkReceived(chunk_index=0, total_chunks=1, size=1, key="k")
    for _ in range(2):
        await adapters.bus.publish(Envelope.wrap(event, video_id=VIDEO))
    assert figures.moved("vodkit_events_published_total", type=ChunkReceived.TYPE) == 2


@pytest.mark.contract
async def test_rabbitmq_counts_what_the_broker_took_and_what_it_did_not() -> None:
    need_rabbitmq()
    link = await TcpLink(5672).start()
    bus = RabbitBus(f"amqp://guest:guest@127.0.0.1:{link.port}/", f"metrics-{uuid.uuid4().hex[:8]}", queue_expiry_s=60)
    event = Envelope.wrap(ChunkReceived(chunk_index=0, total_chunks=1, size=1, key="k"), video_id=VIDEO)
    figures = Moves(
        watch("vodkit_events_published_total", type=ChunkReceived.TYPE),
        watch("vodkit_events_publish_failures_total", type=ChunkReceived.TYPE),
    )
    try:
        await bus.connect()
        await bus.publish(event)
        assert figures.moved("vodkit_events_published_total", type=ChunkReceived.TYPE) == 1
        await link.cut()
        with pytest.raises(BusUnavailable):
            await bus.publish(event)
        assert figures.moved("vodkit_events_publish_failures_total", type=ChunkReceived.TYPE) == 1
        assert figures.moved("vodkit_events_published_total", type=ChunkReceived.TYPE) == 1
    finally:
        await bus.close()
        await link.close()


# ---- transcoder ----------------------------------------------------------------------------------


async def test_jobs_are_counted_by_outcome_with_their_durations_and_attempts(store: MetadataStore) -> None:
    queue = JobQueue(store.collection("transcode_jobs"), lease_s=30, policy=RetryPolicy(attempts=3, base_delay_s=1))
    ended: list[str] = []

    async def work(job: TranscodeJob) -> None:
        await asyncio.sleep(0.05)
        if job.video_id == "bad":
            raise UnsupportedMedia("the video cannot be decoded")
        ended.append(job.video_id)

    async def give_up(job: TranscodeJob, reason: str) -> None:
        ended.append(job.video_id)

    figures = Moves(
        watch("vodkit_transcode_jobs_finished_total", outcome="done"),
        watch("vodkit_transcode_jobs_finished_total", outcome="failed"),
        watch("vodkit_transcode_job_duration_seconds_count", outcome="done"),
        watch("vodkit_transcode_job_duration_seconds_sum", outcome="done"),
        watch("vodkit_transcode_job_duration_seconds_count", outcome="failed"),
        watch("vodkit_transcode_job_attempts_count"),
        watch("vodkit_transcode_job_attempts_sum"),
    )
    worker = JobRunner(queue, work, give_up, slots=2, lease_s=30, poll_s=0.05)
    task = asyncio.create_task(worker.run())
    for video in ("good-1", "good-2", "bad"):
        await queue.enqueue(video, f"originals/{video}/source", "c")
    await eventually(lambda: sorted(ended) == ["bad", "good-1", "good-2"], timeout=10)
    await eventually(lambda: figures.moved("vodkit_transcode_jobs_finished_total", outcome="done") == 2)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert figures.moved("vodkit_transcode_jobs_finished_total", outcome="failed") == 1  # refused: no retry
    assert figures.moved("vodkit_transcode_job_duration_seconds_count", outcome="done") == 2
    assert figures.moved("vodkit_transcode_job_duration_seconds_sum", outcome="done") >= 0.1
    assert figures.moved("vodkit_transcode_job_duration_seconds_count", outcome="failed") == 1
    assert figures.moved("vodkit_transcode_job_attempts_count") == 3
    assert figures.moved("vodkit_transcode_job_attempts_sum") == 3  # each took one attempt


async def test_jobs_by_state_and_the_scratch_space_are_exported(store: MetadataStore, tmp_path: Path) -> None:
    queue = JobQueue(store.collection("transcode_jobs"), lease_s=30, policy=RetryPolicy(attempts=1))
    for video in ("v1", "v2", "v3"):
        await queue.enqueue(video, f"originals/{video}/source", "c")
    running = await queue.claim("worker-a")
    failed = await queue.claim("worker-a")
    assert running is not None
    assert failed is not None
    await queue.fail(failed.video_id, "worker-a", "broken", permanent=True)
    scratch = tmp_path / "scratch"
    (scratch / f"{SCRATCH_PREFIX}job").mkdir(parents=True)
    (scratch / f"{SCRATCH_PREFIX}job" / "source").write_bytes(b"x" * 4096)
    (scratch / "someone-elses").write_bytes(b"y" * 100_000)  # not the transcoder's: not counted
    await export_backlog(queue, scratch, "probe-transcoder")
    assert value("vodkit_transcode_jobs", state="waiting") == 1
    assert value("vodkit_transcode_jobs", state="running") == 1
    assert value("vodkit_transcode_jobs", state="failed") == 1
    assert value("vodkit_transcode_jobs_waiting") == 1
    assert value("vodkit_scratch_used_bytes", service="probe-transcoder") == 4096
    free, size = (
        value("vodkit_scratch_free_bytes", service="probe-transcoder"),
        value("vodkit_scratch_size_bytes", service="probe-transcoder"),
    )
    assert 0 < free <= size


@pytest.mark.media
async def test_an_encode_records_its_speed_by_encoder_and_rung(adapters: Adapters, tmp_path: Path) -> None:
    make_clip(tmp_path / "original.mp4", seconds=2, width=640, height=480)
    await adapters.storage.put_file("originals/v1/source", tmp_path / "original.mp4")
    settings = TranscoderSettings(work_dir=tmp_path, x264_preset="ultrafast", measure_quality=False)
    transcoder = Transcoder(adapters.storage, adapters.bus, settings, Accel("libx264", "test"))
    figures = Moves(
        watch("vodkit_transcode_encode_speed_ratio_count", encoder="libx264", rung="480p"),
        watch("vodkit_transcode_encode_speed_ratio_sum", encoder="libx264", rung="480p"),
        watch("vodkit_transcode_encoded_media_seconds_total", encoder="libx264"),
    )
    started = time.monotonic()
    await transcoder.transcode(TranscodeJob(video_id="v1", source_key="originals/v1/source", correlation_id="c1"))
    elapsed = time.monotonic() - started
    assert figures.moved("vodkit_transcode_encode_speed_ratio_count", encoder="libx264", rung="480p") == 1
    speed = figures.moved("vodkit_transcode_encode_speed_ratio_sum", encoder="libx264", rung="480p")
    assert speed >= 2 / elapsed  # the encode took part of the job's time
    assert figures.moved("vodkit_transcode_encoded_media_seconds_total", encoder="libx264") == pytest.approx(2, 0.1)


# ---- upload --------------------------------------------------------------------------------------


async def test_upload_bytes_sessions_and_assemblies_are_counted(adapters: Adapters, tmp_path: Path) -> None:
    sessions = UploadSessions(adapters.metadata.collection("upload_sessions"))
    ended = EndedVideos(adapters.metadata.collection("upload_ended"))
    intake = ChunkIntake(adapters.storage, sessions, adapters.bus, ended)
    assembler = Assembler(adapters.storage, sessions, adapters.bus, ended)
    figures = Moves(
        watch("vodkit_upload_received_bytes_total", api="chunks"),
        watch("vodkit_upload_assemblies_total", outcome="done"),
        watch("vodkit_upload_assembly_duration_seconds_count"),
    )
    grant = UploadGrant(VIDEO, "alice", 0, size=10)
    for index, body in enumerate((b"first", b"-last")):
        async with spooled(_body(body), 1024, "too large") as chunk:
            await intake.take(grant, ChunkForm(VIDEO, index, 2), chunk)
    assert figures.moved("vodkit_upload_received_bytes_total", api="chunks") == 10
    await sessions.export_open()
    assert value("vodkit_upload_sessions_open") == 1
    await assembler.on_chunk_received(
        Envelope.wrap(ChunkReceived(chunk_index=1, total_chunks=2, size=5, key="k"), video_id=VIDEO)
    )
    assert figures.moved("vodkit_upload_assemblies_total", outcome="done") == 1
    assert figures.moved("vodkit_upload_assembly_duration_seconds_count") == 1
    await sessions.export_open()
    assert value("vodkit_upload_sessions_open") == 0


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


# ---- storage tiering -----------------------------------------------------------------------------


async def test_tier_moves_and_bytes_per_tier_are_counted(adapters: Adapters, tmp_path: Path) -> None:
    tiers = {tier: await open_storage(f"file://{tmp_path / tier}") for tier in TIERS}
    storage = TieredStorage(tiers, Catalogue(adapters.metadata))
    for index, size in enumerate((1000, 3000)):
        await storage.put_bytes(f"hls/{VIDEO}/480p/seg_{index:05d}.ts", b"z" * size, "video/mp2t")
    mover = Mover(tiers, storage.catalogue, Throttle(10**9))
    tiering = Tiering(storage.catalogue, mover, TierPolicy(), None)
    figures = Moves(
        watch("vodkit_tier_moved_objects_total", source="hot", destination="warm"),
        watch("vodkit_tier_moved_bytes_total", source="hot", destination="warm"),
        watch("vodkit_tier_move_duration_seconds_count", source="hot", destination="warm"),
    )
    report = await tiering.run_pass(now=time.time() + 40 * 86400)  # past the warm age, short of the cold one
    assert len(report.moved) == 2
    assert figures.moved("vodkit_tier_moved_objects_total", source="hot", destination="warm") == 2
    assert figures.moved("vodkit_tier_moved_bytes_total", source="hot", destination="warm") == 4000
    assert figures.moved("vodkit_tier_move_duration_seconds_count", source="hot", destination="warm") == 2
    assert value("vodkit_tier_stored_bytes", tier="warm") == 4000
    assert value("vodkit_tier_stored_objects", tier="warm") == 2
    assert value("vodkit_tier_stored_bytes", tier="hot") == 0


# ---- gateway: rate limits and playback -----------------------------------------------------------


async def test_refusals_and_playback_bytes_are_counted(client: Start, tmp_path: Path) -> None:
    settings = GatewaySettings(auth_secret="s" * 32, data_dir=tmp_path / "data", rate_limit_playback=3)
    app = gateway_app(settings)
    http = await client(app)
    await app[STORAGE].put_bytes(f"hls/{VIDEO}/480p/seg_00000.ts", b"s" * 5000, "video/mp2t")
    token = Tokens("s" * 32).playback_token(VIDEO, 600)
    url = f"/videos/{VIDEO}/480p/seg_00000.ts?token={token}"
    figures = Moves(
        watch("vodkit_playback_served_bytes_total", kind="segment"),
        watch("vodkit_ratelimit_refusals_total", rate_class="playback"),
    )
    whole = await http.get(url)
    assert (whole.status, len(await whole.read())) == (200, 5000)
    part = await http.get(url, headers={"Range": "bytes=0-99"})
    assert (part.status, len(await part.read())) == (206, 100)
    assert figures.moved("vodkit_playback_served_bytes_total", kind="segment") == 5100
    statuses = [(await http.get(url)).status for _ in range(3)]
    assert statuses[-1] == 429
    assert figures.moved("vodkit_ratelimit_refusals_total", rate_class="playback") == statuses.count(429)
