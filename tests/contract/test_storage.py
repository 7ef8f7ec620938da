"""The storage contract: the same suite against the file adapter and S3 (minio SDK on moto)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from vodkit_shared.metadata import open_metadata
from vodkit_shared.storage import ObjectNotFound, ObjectStorage, open_storage
from vodkit_shared.tiers import TIERS, Catalogue, TieredStorage

pytestmark = pytest.mark.contract


@pytest.fixture(params=["file", "s3", "tiered"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStorage]:
    if request.param == "tiered":  # three file stores and the catalogue on SQLite, as `vodkit up` has them
        metadata = await open_metadata(f"sqlite:///{tmp_path / 'catalogue.db'}")
        tiers = {tier: await open_storage(f"file://{tmp_path / tier}") for tier in TIERS}
        tiered = TieredStorage(tiers, Catalogue(metadata))
        yield tiered
        await tiered.close()
        await metadata.close()
        return
    url = f"file://{tmp_path / 'objects'}" if request.param == "file" else request.getfixturevalue("s3_url")
    store = await open_storage(url)
    yield store
    await store.close()


async def test_bytes_round_trip_and_size(storage: ObjectStorage) -> None:
    await storage.put_bytes("hls/v1/master.m3u8", b"#EXTM3U\n")
    assert await storage.get_bytes("hls/v1/master.m3u8") == b"#EXTM3U\n"
    assert await storage.size("hls/v1/master.m3u8") == 8


async def test_a_missing_object_is_none_or_not_found(storage: ObjectStorage) -> None:
    assert await storage.size("nothing/here") is None
    with pytest.raises(ObjectNotFound):
        await storage.get_bytes("nothing/here")
    with pytest.raises(ObjectNotFound):
        await storage.get_file("nothing/here", Path("/tmp/never-written"))


async def test_files_stream_in_chunks_and_round_trip(storage: ObjectStorage, tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    source, copy = tmp_path / "source", tmp_path / "copy"
    source.write_bytes(data)
    await storage.put_file("originals/v1/source", source)
    chunks = [chunk async for chunk in storage.stream("originals/v1/source")]
    assert len(chunks) > 1
    assert b"".join(chunks) == data
    await storage.get_file("originals/v1/source", copy)
    assert copy.read_bytes() == data


async def test_a_range_streams_only_its_bytes(storage: ObjectStorage) -> None:
    data = os.urandom(2 * 1024 * 1024 + 5)
    await storage.put_bytes("hls/v1/720p/seg_00000.ts", data)

    async def read(offset: int, length: int | None) -> bytes:
        return b"".join([c async for c in storage.stream("hls/v1/720p/seg_00000.ts", offset, length)])

    assert await read(0, 10) == data[:10]
    assert await read(1024 * 1024 - 3, 1024 * 1024 + 1) == data[1024 * 1024 - 3 : 2 * 1024 * 1024 - 2]
    assert await read(len(data) - 4, None) == data[-4:]
    assert await read(len(data) - 4, 100) == data[-4:]  # a length past the end stops at the end


async def test_put_replaces_an_existing_object(storage: ObjectStorage) -> None:
    await storage.put_bytes("a/b", b"old")
    await storage.put_bytes("a/b", b"new!")
    assert await storage.get_bytes("a/b") == b"new!"


async def test_keys_lists_only_under_the_prefix_sorted(storage: ObjectStorage) -> None:
    for key in ("hls/v1/720p/seg_00001.ts", "hls/v1/720p/seg_00000.ts", "hls/v1/master.m3u8", "hls/v2/x"):
        await storage.put_bytes(key, b"x")
    assert await storage.keys("hls/v1/") == [
        "hls/v1/720p/seg_00000.ts",
        "hls/v1/720p/seg_00001.ts",
        "hls/v1/master.m3u8",
    ]
    assert await storage.keys("nothing/") == []


async def test_delete_is_idempotent_and_delete_prefix_removes_everything_below(storage: ObjectStorage) -> None:
    await storage.put_bytes("uploads/v1/chunks/000000", b"x")
    await storage.put_bytes("uploads/v1/chunks/000001", b"y")
    await storage.put_bytes("uploads/v2/chunks/000000", b"z")
    await storage.delete("uploads/v1/chunks/000000")
    await storage.delete("uploads/v1/chunks/000000")
    assert await storage.size("uploads/v1/chunks/000000") is None
    assert await storage.delete_prefix("uploads/v1/") == 1
    assert await storage.keys("uploads/") == ["uploads/v2/chunks/000000"]


@pytest.mark.parametrize("part_size", [1000, 5 * 1024 * 1024], ids=["small-parts", "5MiB-parts"])
async def test_compose_concatenates_in_order(storage: ObjectStorage, tmp_path: Path, part_size: int) -> None:
    parts = [os.urandom(part_size) for _ in range(2)] + [b"tail"]
    keys = []
    for index, data in enumerate(parts):
        path = tmp_path / f"part{index}"
        path.write_bytes(data)
        keys.append(f"uploads/v1/chunks/{index:06d}")
        await storage.put_file(keys[-1], path)
    size = await storage.compose("originals/v1/source", keys)
    assert size == sum(map(len, parts))
    assert await storage.get_bytes("originals/v1/source") == b"".join(parts)


async def test_compose_of_a_missing_part_fails_and_writes_nothing(storage: ObjectStorage) -> None:
    await storage.put_bytes("uploads/v1/chunks/000000", b"x")
    with pytest.raises(ObjectNotFound):
        await storage.compose("originals/v1/source", ["uploads/v1/chunks/000000", "uploads/v1/chunks/000001"])
    assert await storage.size("originals/v1/source") is None


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs", "a//b", "a/../b", "", "a/b/", "sp ace"])
async def test_unsafe_keys_are_refused(storage: ObjectStorage, key: str) -> None:
    with pytest.raises(ValueError, match="invalid storage key"):
        await storage.put_bytes(key, b"x")


async def test_an_adopted_file_is_stored_and_let_go(storage: ObjectStorage, tmp_path: Path) -> None:
    data = os.urandom(100_000)
    local = tmp_path / "spooled"
    local.write_bytes(data)
    await storage.adopt_file("uploads/v1/parts/0000000000000000-abc", local)
    assert not local.exists()
    assert await storage.get_bytes("uploads/v1/parts/0000000000000000-abc") == data


async def test_a_store_in_use_answers_its_readiness_ping(storage: ObjectStorage) -> None:
    await storage.ping()
