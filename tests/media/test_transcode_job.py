"""A whole transcode job, as a worker runs it: its scratch space is gone afterwards, whatever happened."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import eventually, make_clip
from vodkit_shared.bus import BusUnavailable, RetryPolicy, Subscription
from vodkit_shared.bus.memory import MemoryBus
from vodkit_shared.events import Envelope, RenditionReady, TranscodeProgress
from vodkit_shared.metadata import open_metadata
from vodkit_shared.storage import ObjectStorage, StorageUnavailable, open_storage
from vodkit_shared.storage.files import FileStorage
from vodkit_transcoder.encode import EncodeJob, ProgressCallback, encode
from vodkit_transcoder.errors import UnsupportedMedia
from vodkit_transcoder.hwaccel import Accel
from vodkit_transcoder.jobs import JobQueue, TranscodeJob
from vodkit_transcoder.settings import TranscoderSettings
from vodkit_transcoder.worker import Transcoder

pytestmark = pytest.mark.media


async def renditions_announced(bus: MemoryBus) -> list[Envelope]:
    """The `rendition.ready` events the bus will carry, as they come."""
    ready: list[Envelope] = []

    async def on_ready(envelope: Envelope) -> None:
        ready.append(envelope)

    await bus.subscribe(Subscription("probe", RenditionReady.TYPE, on_ready))
    return ready


async def store_a_clip(storage: ObjectStorage, tmp_path: Path) -> None:
    """A 2 s 640x480 original, as v1's upload."""
    make_clip(tmp_path / "original.mp4", seconds=2, width=640, height=480)
    await storage.put_file("originals/v1/source", tmp_path / "original.mp4")


@pytest.mark.parametrize("source", ["clip", "not-a-video"])
async def test_temporary_files_are_removed_on_every_path(tmp_path: Path, source: str) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    storage = await open_storage(f"file://{tmp_path / 'objects'}")
    original = tmp_path / "original.mp4"
    if source == "clip":
        make_clip(original, seconds=2, width=640, height=480)
    else:
        original.write_bytes(b"not a video" * 1000)
    await storage.put_file("originals/v1/source", original)
    bus = MemoryBus(f"job-{tmp_path.name}")
    await renditions_announced(bus)
    settings = TranscoderSettings(work_dir=scratch, x264_preset="ultrafast", measure_quality=False)
    transcoder = Transcoder(storage, bus, settings, Accel("libx264", "test"))
    job = TranscodeJob(video_id="v1", source_key="originals/v1/source", correlation_id="c1")
    try:
        if source == "clip":
            await transcoder.transcode(job)
            assert await storage.size("renditions/v1/480p.mp4")
            assert await storage.size("artwork/v1/poster.jpg")
        else:
            with pytest.raises(UnsupportedMedia):
                await transcoder.transcode(job)
    finally:
        await bus.close()
    assert list(scratch.iterdir()) == []


class OutageBus(MemoryBus):
    """A bus that is down for its first `down_for` publishes, as during a broker restart."""

    def __init__(self, name: str, down_for: int) -> None:
        super().__init__(name)
        self.down_for = down_for
        self.refused: list[str] = []

    async def publish(self, envelope: Envelope) -> None:
        if envelope.type != TranscodeProgress.TYPE and len(self.refused) < self.down_for:
            self.refused.append(envelope.type)
            raise BusUnavailable("the broker cannot be reached")
        await super().publish(envelope)


class OutageStorage(FileStorage):
    """File storage that cannot be reached for its first `down_for` stores, as during an S3 outage."""

    def __init__(self, root: Path, down_for: int) -> None:
        super().__init__(root)
        self.down_for = down_for
        self.refused: list[str] = []

    async def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> None:
        if key.startswith("renditions/") and len(self.refused) < self.down_for:
            self.refused.append(key)
            raise StorageUnavailable("the object store cannot be reached")
        await super().put_file(key, path, content_type)


async def test_an_encoded_ladder_waits_out_a_store_outage_rather_than_failing_an_attempt(tmp_path: Path) -> None:
    """A store outage after the encode failed the attempt (3 of them, 1 s and 2 s apart, failed the video)."""
    storage = OutageStorage(tmp_path / "objects", down_for=2)
    await store_a_clip(storage, tmp_path)
    bus = MemoryBus(f"store-outage-{tmp_path.name}")
    settings = TranscoderSettings(work_dir=tmp_path, x264_preset="ultrafast", measure_quality=False)
    try:
        await Transcoder(storage, bus, settings, Accel("libx264", "test")).transcode(
            TranscodeJob(video_id="v1", source_key="originals/v1/source", correlation_id="c1")
        )
    finally:
        await bus.close()
    assert storage.refused == ["renditions/v1/480p.mp4"] * 2
    assert await storage.size("renditions/v1/480p.mp4")


async def test_an_encoded_ladder_waits_for_the_bus_rather_than_being_encoded_again(tmp_path: Path) -> None:
    """A broker outage after the encode raised out of the job, which was put off and encoded again from the start."""
    storage = await open_storage(f"file://{tmp_path / 'objects'}")
    await store_a_clip(storage, tmp_path)
    bus = OutageBus(f"outage-{tmp_path.name}", down_for=2)
    ready = await renditions_announced(bus)
    settings = TranscoderSettings(work_dir=tmp_path, x264_preset="ultrafast", measure_quality=False)
    transcoder = Transcoder(storage, bus, settings, Accel("libx264", "test"))
    try:
        await transcoder.transcode(TranscodeJob(video_id="v1", source_key="originals/v1/source", correlation_id="c1"))
        await eventually(lambda: len(ready) == 1)
    finally:
        await bus.close()
    assert bus.refused == [RenditionReady.TYPE, RenditionReady.TYPE]  # refused twice, then taken: one encode
    assert [envelope.payload(RenditionReady).rung for envelope in ready] == ["480p"]


class Killed(Exception):
    """The worker dies here (as by kill -9): nothing after this line of its runs."""


class DyingBus(MemoryBus):
    """A bus whose process dies at its first `rendition.ready`, once."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.died = False

    async def publish(self, envelope: Envelope) -> None:
        if envelope.type == RenditionReady.TYPE and not self.died:
            self.died = True
            raise Killed
        await super().publish(envelope)


async def test_a_worker_lost_after_storing_the_ladder_costs_no_second_encode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kill between storing and announcing (or during a wait for the bus) encoded the whole ladder again."""
    storage = await open_storage(f"file://{tmp_path / 'objects'}")
    await store_a_clip(storage, tmp_path)
    metadata = await open_metadata(f"sqlite:///{tmp_path / 'jobs.db'}")
    now = [1000.0]
    jobs = JobQueue(metadata.collection("transcode_jobs"), 60, RetryPolicy(3, 1.0), clock=lambda: now[0])
    encodes: list[Path] = []

    async def counted(job: EncodeJob, on_progress: ProgressCallback) -> None:
        encodes.append(job.source)
        await encode(job, on_progress)

    monkeypatch.setattr("vodkit_transcoder.worker.encode", counted)
    bus = DyingBus(f"dying-{tmp_path.name}")
    ready = await renditions_announced(bus)
    settings = TranscoderSettings(work_dir=tmp_path, x264_preset="ultrafast", measure_quality=False)
    transcoder = Transcoder(storage, bus, settings, Accel("libx264", "test"), jobs=jobs)
    await jobs.enqueue("v1", "originals/v1/source", "c1")
    try:
        first = await jobs.claim("a")
        assert first is not None
        with pytest.raises(Killed):
            await transcoder.transcode(first)
        now[0] += 61  # its lease lapses
        second = await jobs.claim("b")
        assert second is not None
        assert second.crashes == 1
        await transcoder.transcode(second)
        await eventually(lambda: len(ready) == 1)
    finally:
        await bus.close()
        await metadata.close()
    assert len(encodes) == 1
    assert ready[0].payload(RenditionReady).key == "renditions/v1/480p.mp4"
