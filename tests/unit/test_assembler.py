"""The assembler, with in-memory and file adapters: chunks in order into the original, checked, announced once."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import RecordingBus
from vodkit_shared.events import ChunkReceived, Envelope, VideoAssembled
from vodkit_shared.lifecycle import EndedVideos
from vodkit_shared.metadata import open_metadata
from vodkit_shared.storage import ObjectStorage, open_storage
from vodkit_shared.tokens import UploadGrant
from vodkit_upload.assembler import Assembler, source_key
from vodkit_upload.errors import OriginalMismatch
from vodkit_upload.sessions import StoredChunk, UploadSessions, chunk_key

pytestmark = pytest.mark.unit
VIDEO = "v1"
CHUNKS = [b"first-", b"second-", b"third"]
WHOLE = b"".join(CHUNKS)


@dataclass
class Rig:
    assembler: Assembler
    storage: ObjectStorage
    sessions: UploadSessions
    ended: EndedVideos
    bus: RecordingBus


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    storage = await open_storage(f"file://{tmp_path / 'objects'}")
    store = await open_metadata(f"sqlite:///{tmp_path / 'meta.db'}")
    bus = RecordingBus(f"assembler-{tmp_path.name}")
    sessions = UploadSessions(store.collection("upload_sessions"))
    ended = EndedVideos(store.collection("upload_ended"))
    try:
        yield Rig(Assembler(storage, sessions, bus, ended), storage, sessions, ended, bus)
    finally:
        await bus.close()
        await store.close()


async def upload(
    rig: Rig, chunks: list[bytes], size: int, sha256: str | None = None, total: int | None = None
) -> Envelope:
    """Store and record every chunk (last first: order of arrival does not matter); the last event."""
    await rig.sessions.open(UploadGrant(VIDEO, "alice", 0, size=size, sha256=sha256), total or len(chunks))
    for index in reversed(range(len(chunks))):
        await rig.storage.put_bytes(chunk_key(VIDEO, index), chunks[index])
        stored = StoredChunk(size=len(chunks[index]), sha256=hashlib.sha256(chunks[index]).hexdigest())
        await rig.sessions.record_chunk(VIDEO, index, stored)
    last = ChunkReceived(chunk_index=0, total_chunks=total or len(chunks), size=len(chunks[0]), key=chunk_key(VIDEO, 0))
    return Envelope.wrap(last, video_id=VIDEO)


def assembled(rig: Rig) -> list[VideoAssembled]:
    return [e.payload(VideoAssembled) for e in rig.bus.published if e.type == VideoAssembled.TYPE]


async def test_chunks_become_the_original_in_index_order_and_are_announced_once(rig: Rig) -> None:
    event = await upload(rig, CHUNKS, len(WHOLE), hashlib.sha256(WHOLE).hexdigest())
    await rig.assembler.on_chunk_received(event)
    await rig.assembler.on_chunk_received(event)  # a redelivery changes nothing
    assert await rig.storage.get_bytes(source_key(VIDEO)) == WHOLE
    [announced] = assembled(rig)
    assert (announced.size, announced.sha256) == (len(WHOLE), hashlib.sha256(WHOLE).hexdigest())
    assert set(announced.model_dump()) == {"source_key", "size", "sha256"}  # the media is the transcoder's to open
    assert await rig.storage.keys(f"uploads/{VIDEO}/") == []
    session = await rig.sessions.get(VIDEO)
    assert session is not None
    assert session.assembled


async def test_an_incomplete_upload_is_not_assembled(rig: Rig) -> None:
    event = await upload(rig, CHUNKS[:2], len(WHOLE), total=3)  # the third is still to come
    await rig.assembler.on_chunk_received(event)
    assert assembled(rig) == []
    assert await rig.storage.keys("originals/") == []


@pytest.mark.parametrize(("size", "sha256"), [(len(WHOLE) + 1, None), (len(WHOLE), "0" * 64)])
async def test_an_original_unlike_its_declaration_fails_and_is_removed(rig: Rig, size: int, sha256: str | None) -> None:
    event = await upload(rig, CHUNKS, size, sha256)
    with pytest.raises(OriginalMismatch, match="declared"):
        await rig.assembler.on_chunk_received(event)
    assert await rig.storage.keys("originals/") == []
    assert assembled(rig) == []


async def test_an_ended_video_is_not_assembled(rig: Rig) -> None:
    event = await upload(rig, CHUNKS, len(WHOLE))
    await rig.ended.record(VIDEO, "deleted")
    await rig.assembler.on_chunk_received(event)
    assert await rig.storage.keys("originals/") == []
    assert assembled(rig) == []
