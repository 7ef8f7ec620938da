"""The intake, with in-memory and file adapters: both upload APIs keep one set of rules."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.unit.conftest import Adapters
from vodkit_shared.bus import BusUnavailable
from vodkit_shared.bus.memory import MemoryBus
from vodkit_shared.events import ChunkReceived, Envelope
from vodkit_shared.lifecycle import EndedVideos
from vodkit_shared.metadata import open_metadata
from vodkit_shared.storage import ObjectStorage, open_storage
from vodkit_shared.tokens import UploadGrant
from vodkit_upload.errors import ChecksumMismatch, OffsetConflict, UploadClosed
from vodkit_upload.intake import Checksum, ChunkForm, ChunkIntake
from vodkit_upload.sessions import UploadSessions
from vodkit_upload.spool import SpooledBody, spooled

pytestmark = pytest.mark.unit
VIDEO = "0f0f0f0f-0000-4000-8000-000000000001"


@dataclass
class Intake:
    intake: ChunkIntake
    storage: ObjectStorage
    sessions: UploadSessions
    ended: EndedVideos
    received: list[Envelope]


@pytest.fixture
async def rig(adapters: Adapters) -> Intake:
    received = await adapters.heard(ChunkReceived.TYPE)
    sessions = UploadSessions(adapters.metadata.collection("upload_sessions"))
    ended = EndedVideos(adapters.metadata.collection("upload_ended"))
    intake = ChunkIntake(adapters.storage, sessions, adapters.bus, ended)
    return Intake(intake, adapters.storage, sessions, ended, received)


async def _bytes(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _grant(size: int) -> UploadGrant:
    return UploadGrant(VIDEO, "alice", 0, size=size)


async def test_of_parts_racing_for_one_offset_exactly_one_is_kept(rig: Intake) -> None:
    """Six PATCHes at offset 0 at once: one wins, five are refused, and only the winner's bytes are stored."""
    grant = _grant(6)
    session = await rig.intake.open_tus(grant)
    start = asyncio.Event()

    async def append(body: bytes) -> bytes:
        async with spooled(_bytes(body), rig.intake.room(session, 0), "too large") as spool:
            await start.wait()
            await rig.intake.append(grant, 0, spool, None)
        return body

    bodies = [bytes([65 + i]) * 6 for i in range(6)]
    tasks = [asyncio.create_task(append(body)) for body in bodies]
    await asyncio.sleep(0.1)
    start.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    won = [r for r in results if isinstance(r, bytes)]
    assert len(won) == 1
    assert sum(isinstance(r, OffsetConflict) for r in results) == 5
    stored = await rig.sessions.get(VIDEO)
    assert stored is not None
    assert stored.offset == 6
    assert await rig.storage.keys(f"uploads/{VIDEO}/parts/") == [stored.chunks["0"].key]
    assert await rig.storage.get_bytes(stored.chunks["0"].key or "") == won[0]


@pytest.mark.parametrize("algorithm", ["sha1", "sha256"])
async def test_a_tus_checksum_is_compared_digest_to_digest(rig: Intake, algorithm: str) -> None:
    grant, data = _grant(8), b"12345678"
    session = await rig.intake.open_tus(grant)
    wrong = Checksum(algorithm, hashlib.new(algorithm, b"other").digest())
    async with spooled(_bytes(data), rig.intake.room(session, 0), "too large", [algorithm]) as body:
        with pytest.raises(ChecksumMismatch):
            await rig.intake.append(grant, 0, body, wrong)
    async with spooled(_bytes(data), rig.intake.room(session, 0), "too large", [algorithm]) as body:
        right = Checksum(algorithm, hashlib.new(algorithm, data).digest())
        assert (await rig.intake.append(grant, 0, body, right)).offset == 8


async def test_an_ended_video_takes_no_more_chunks_by_either_api(rig: Intake, tmp_path: Path) -> None:
    grant = _grant(8)
    await rig.intake.open_tus(grant)
    await rig.ended.record(VIDEO, "deleted")
    chunk = tmp_path / "chunk"
    chunk.write_bytes(b"data")
    body = SpooledBody(chunk, 4, {"sha256": hashlib.sha256(b"data").digest()})
    with pytest.raises(UploadClosed, match="deleted"):
        await rig.intake.take(grant, ChunkForm(VIDEO, 0, 2), body)
    with pytest.raises(UploadClosed):
        await rig.intake.append(grant, 0, body, None)
    with pytest.raises(UploadClosed):
        await rig.intake.open_tus(grant)
    assert await rig.storage.keys(f"uploads/{VIDEO}/") == []
    assert rig.received == []


async def test_termination_after_assembly_is_refused(rig: Intake) -> None:
    grant = _grant(4)
    session = await rig.intake.open_tus(grant)
    async with spooled(_bytes(b"data"), rig.intake.room(session, 0), "too large") as body:
        await rig.intake.append(grant, 0, body, None)
    await rig.sessions.mark_assembled(VIDEO)
    with pytest.raises(UploadClosed, match="delete the video"):
        await rig.intake.terminate(grant)
    assert await rig.ended.ending(VIDEO) is None


class DownBus(MemoryBus):
    """A broker that cannot be reached."""

    async def publish(self, envelope: Envelope) -> None:
        raise BusUnavailable("the broker cannot be reached")


async def test_a_body_the_broker_cannot_hear_of_is_not_kept(tmp_path: Path) -> None:
    """Stored, recorded, then the announcement fails: take it back out, so that nothing is half-stored."""
    storage = await open_storage(f"file://{tmp_path / 'objects'}")
    store = await open_metadata(f"sqlite:///{tmp_path / 'meta.db'}")
    sessions = UploadSessions(store.collection("upload_sessions"))
    intake = ChunkIntake(storage, sessions, DownBus("down"), EndedVideos(store.collection("upload_ended")))
    try:
        chunk = tmp_path / "chunk"
        chunk.write_bytes(b"data")
        body = SpooledBody(chunk, 4, {"sha256": hashlib.sha256(b"data").digest()})
        with pytest.raises(BusUnavailable):
            await intake.take(_grant(8), ChunkForm(VIDEO, 0, 2), body)
        session = await sessions.get(VIDEO)
        assert session is not None
        assert session.uploaded == []
        assert await storage.keys(f"uploads/{VIDEO}/") == []

        other = "0f0f0f0f-0000-4000-8000-000000000002"
        grant = UploadGrant(other, "alice", 0, size=4)
        tus_session = await intake.open_tus(grant)
        async with spooled(_bytes(b"data"), intake.room(tus_session, 0), "too large") as part:
            with pytest.raises(BusUnavailable):
                await intake.append(grant, 0, part, None)
        assert (await intake.tus_session(other)).offset == 0
        assert await storage.keys(f"uploads/{other}/") == []
    finally:
        await store.close()
