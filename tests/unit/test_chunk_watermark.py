"""A chunked ladder burns in one watermark: the one its video's job read when it planned the run, in every
chunk, whichever worker takes it, even when the `watermarks` record changes while the chunks are encoded."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.unit.test_transcode_jobs import Clock
from tests.watermark_pictures import solid_png
from vodkit_shared.bus import RetryPolicy
from vodkit_shared.metadata import MetadataStore
from vodkit_shared.storage import open_storage
from vodkit_shared.watermarks import COLLECTION, Placement, Watermark, Watermarks, check_png, video_key
from vodkit_transcoder import chunks
from vodkit_transcoder.chunks import ChunkedLadder, ChunkSettings
from vodkit_transcoder.jobs import JobQueue, TranscodeJob
from vodkit_transcoder.source import SourceInfo, SourceLimits
from vodkit_transcoder.watermark import Overlay, fetch_overlay

pytestmark = pytest.mark.unit
INFO = SourceInfo(1280, 720, 180.0)  # three 60 s chunks, no audio
FIRST = (solid_png(16, 16, (255, 0, 0, 255)), Placement(position="top-left"))
SECOND = (solid_png(32, 16, (0, 0, 255, 255)), Placement(position="bottom-right", scale=0.5))


class LadderStub:
    """What `make_job` returns: one rung, written by the patched `encode`."""

    def __init__(self, out_dir: Path) -> None:
        self.rungs = [SimpleNamespace(name="720p")]
        self.segment_s = 6
        self.out_dir = out_dir
        self.storyboard_dir = out_dir / "storyboard"
        self.storyboard = self.thumbnails = out_dir / "storyboard.jpg"

    def output(self, rung: Any) -> Path:
        return self.out_dir / f"{rung.name}.ts"


async def _encode(job: LadderStub, _: Any) -> None:
    job.out_dir.mkdir(parents=True, exist_ok=True)
    for rung in job.rungs:
        job.output(rung).write_bytes(b"ts")


async def _nothing(*_: Any) -> None:
    return None


class Rig:
    """Two workers' ChunkedLadders on one store, the encode stubbed: `burned` is what each chunk burned in."""

    def __init__(self, store: MetadataStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tmp_path = tmp_path
        self.clock = Clock()
        self.queue = JobQueue(store.collection("transcode_jobs"), 60, RetryPolicy(3, 1.0), clock=self.clock)
        self.records = Watermarks(store.collection(COLLECTION))
        self.burned: dict[int, tuple[bytes, Placement] | None] = {}
        for name, stub in (("encode", _encode), ("stitch", _nothing), ("storyboard_from", _nothing)):
            monkeypatch.setattr(chunks, name, stub)
        monkeypatch.setattr(chunks, "inspect", self._inspect)

    async def start(self) -> None:
        self.storage = await open_storage(f"file://{self.tmp_path / 'objects'}")
        await self.storage.put_bytes("originals/v1/source", b"source")
        await self.set(FIRST)

    async def set(self, watermark: tuple[bytes, Placement]) -> None:
        png, placement = watermark
        await self.records.put(video_key("v1"), Watermark.of(png, placement, check_png(png), 1.0))

    def ladder(self) -> ChunkedLadder:
        settings = ChunkSettings(60, 0, 0.01, SourceLimits())
        return ChunkedLadder(self.storage, self.queue, settings, self._make_job, self.tmp_path, self.records)

    async def video_job(self, ladder: ChunkedLadder, parent: TranscodeJob, name: str) -> None:
        """The video's job on a worker: reads the record at its start, then runs the chunked ladder."""
        work = self.tmp_path / name
        work.mkdir()
        mark = await fetch_overlay(self.records, "v1", work)
        await ladder.encode(parent, work / "source", INFO, work, 0, _nothing, mark)

    @staticmethod
    async def _inspect(*_: Any) -> SourceInfo:
        return INFO

    def _make_job(self, source: Path, info: SourceInfo, out: Path, nice: int, window: Any, mark: Overlay | None) -> Any:
        if window is not None:
            self.burned[window.index] = (mark.png.read_bytes(), mark.placement) if mark else None
        return LadderStub(out)


@pytest.fixture
async def rig(store: MetadataStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Rig:
    made = Rig(store, tmp_path, monkeypatch)
    await made.start()
    return made


async def test_every_chunk_burns_in_the_watermark_its_run_was_planned_with(rig: Rig) -> None:
    queue, storage, burned = rig.queue, rig.storage, rig.burned
    ours, theirs = rig.ladder(), rig.ladder()  # theirs: another worker's

    async def attempt(job: TranscodeJob) -> None:
        assert job.chunk is not None
        if job.chunk.index == 0:
            await ours.encode_chunk(job)
        else:  # the owner replaced the watermark in the window the gateway admits; another worker takes it
            await rig.set(SECOND)
            await theirs.encode_chunk(job)
        await queue.finish(job.key, "a")

    ours.run_claimed_with(attempt)
    theirs.run_claimed_with(attempt)
    assert await queue.enqueue("v1", "originals/v1/source", "v1-c1")
    parent = await queue.claim("a")
    assert parent is not None
    await rig.video_job(ours, parent, "work")
    assert burned == {0: FIRST, 1: FIRST, 2: FIRST}  # before: chunks 1 and 2 burned in SECOND
    assert await storage.size("renditions/v1/chunks/run-0/watermark.png") == len(FIRST[0])  # goes with the parts


async def test_a_video_job_taken_over_keeps_the_watermark_its_run_was_planned_with(rig: Rig) -> None:
    """The worker that takes the video's job over reads the record again at its start: its chunks burn in
    the run's watermark, not that one."""
    first, second = rig.ladder(), rig.ladder()

    async def dies(_: TranscodeJob) -> None:
        raise asyncio.CancelledError  # the first worker stops once the run is planned

    async def attempt(job: TranscodeJob) -> None:
        await second.encode_chunk(job)
        await rig.queue.finish(job.key, "a")

    first.run_claimed_with(dies)
    second.run_claimed_with(attempt)
    assert await rig.queue.enqueue("v1", "originals/v1/source", "v1-c1")
    parent = await rig.queue.claim("a")
    assert parent is not None
    with pytest.raises(asyncio.CancelledError):
        await rig.video_job(first, parent, "first")
    rig.clock.now += 61  # its lease on the video's job and the chunk it had taken lapsed
    await rig.set(SECOND)
    await rig.video_job(second, parent, "second")
    assert rig.burned == {0: FIRST, 1: FIRST, 2: FIRST}  # before: SECOND, the record the takeover read
