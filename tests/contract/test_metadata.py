"""The metadata contract: the same suite against SQLite and MongoDB (when VODKIT_TEST_MONGODB_URL is set)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support import MONGODB_URL
from vodkit_shared.metadata import Collection, Document, DuplicateKey, MetadataStore, open_metadata

pytestmark = pytest.mark.contract


@pytest.fixture(params=["sqlite", "mongodb"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MetadataStore]:
    if request.param == "mongodb":
        if not MONGODB_URL:
            pytest.skip("MongoDB: set VODKIT_TEST_MONGODB_URL=mongodb://host:port to run these")
        url = f"{MONGODB_URL.rstrip('/')}/vodkit_test_{uuid.uuid4().hex[:8]}"
    else:
        url = f"sqlite:///{tmp_path / 'meta.db'}"
    opened = await open_metadata(url)
    yield opened
    await opened.close()


@pytest.fixture
def videos(store: MetadataStore) -> Collection:
    return store.collection("videos")


async def test_insert_then_get(videos: Collection) -> None:
    await videos.insert("v1", {"owner": "alice", "qualities": {"720p": "ready"}})
    assert await videos.get("v1") == {"owner": "alice", "qualities": {"720p": "ready"}}
    assert await videos.get("v2") is None


async def test_a_second_insert_of_a_key_is_refused(videos: Collection) -> None:
    await videos.insert("v1", {"n": 1})
    with pytest.raises(DuplicateKey):
        await videos.insert("v1", {"n": 2})
    assert await videos.get("v1") == {"n": 1}


async def test_update_applies_the_change_and_returns_the_new_document(videos: Collection) -> None:
    await videos.insert("v1", {"n": 1})
    assert await videos.update("v1", lambda d: {**d, "n": d["n"] + 1}) == {"n": 2}
    assert await videos.get("v1") == {"n": 2}


async def test_update_of_a_missing_document_returns_none(videos: Collection) -> None:
    assert await videos.update("nope", lambda d: {**d, "n": 1}) is None
    assert await videos.get("nope") is None


async def test_a_change_returning_none_leaves_the_document(videos: Collection) -> None:
    await videos.insert("v1", {"n": 1})
    assert await videos.update("v1", lambda d: None) == {"n": 1}


async def test_concurrent_updates_all_land(store: MetadataStore) -> None:
    """Compare-and-set: 40 concurrent read-modify-writes, from two clients, none lost."""
    chunks = store.collection("upload_sessions")
    await chunks.insert("v1", {"chunks": []})

    def add(index: int):  # type: ignore[no-untyped-def]
        def change(doc: Document) -> Document:
            return {**doc, "chunks": sorted({*doc["chunks"], index})}

        return change

    await asyncio.gather(*(chunks.update("v1", add(i)) for i in range(40)))
    assert (await chunks.get("v1")) == {"chunks": list(range(40))}


async def test_delete(videos: Collection) -> None:
    await videos.insert("v1", {"n": 1})
    assert await videos.delete("v1") is True
    assert await videos.delete("v1") is False
    assert await videos.get("v1") is None


async def test_find_by_a_top_level_field(videos: Collection) -> None:
    await videos.insert("v2", {"owner": "alice", "n": 2})
    await videos.insert("v1", {"owner": "alice", "n": 1})
    await videos.insert("v3", {"owner": "bob", "n": 3})
    assert [d["n"] for d in await videos.find("owner", "alice")] == [1, 2]
    assert await videos.find("owner", "carol") == []


async def test_collections_are_separate(store: MetadataStore) -> None:
    await store.collection("videos").insert("v1", {"a": 1})
    assert await store.collection("packages").get("v1") is None


async def test_increment_creates_then_adds_atomically(store: MetadataStore) -> None:
    counters = store.collection("counters")
    assert await counters.increment("k", "count", 1, {"window": 7}) == 1
    results = await asyncio.gather(*(counters.increment("k", "count", 2, {"window": 7}) for _ in range(20)))
    assert sorted(results) == list(range(3, 42, 2))  # every increment saw its own, distinct total
    assert await counters.get("k") == {"window": 7, "count": 41}
    assert [d["count"] for d in await counters.find("window", 7)] == [41]


async def test_a_document_changed_by_increment_still_updates_by_compare_and_set(store: MetadataStore) -> None:
    counters = store.collection("counters")
    await counters.increment("k", "count", 5, {})
    await counters.update("k", lambda doc: {**doc, "count": doc["count"] * 2})
    assert await counters.increment("k", "count", 1, {}) == 11
