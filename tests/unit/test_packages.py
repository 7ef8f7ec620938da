"""The packages repository: typed records over the `packages` collection, compatible with what is stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from vodkit_packager.hls import Variant
from vodkit_packager.packages import Package, Packages
from vodkit_shared.metadata import Collection, open_metadata

pytestmark = pytest.mark.unit


def variant(rung: str, height: int) -> Variant:
    return Variant(rung=rung, width=height * 16 // 9, height=height, bandwidth=2, average_bandwidth=1, codecs="avc1")


@pytest.fixture
async def collection(tmp_path: Path) -> AsyncIterator[Collection]:
    store = await open_metadata(f"sqlite:///{tmp_path / 'meta.db'}")
    try:
        yield store.collection("packages")
    finally:
        await store.close()


async def test_rungs_are_recorded_until_the_ladder_is_whole_then_done(collection: Collection) -> None:
    packages = Packages(collection)
    assert await packages.get("v1") is None
    first = await packages.record_variant("v1", ["720p", "480p"], variant("720p", 720))
    assert not first.has_every(["720p", "480p"])
    whole = await packages.record_variant("v1", ["720p", "480p"], variant("480p", 480))
    assert whole.has_every(["720p", "480p"])
    assert (whole.ladder, whole.variants["480p"], whole.done) == (["720p", "480p"], variant("480p", 480), False)
    await packages.mark_done("v1")
    assert await packages.get("v1") == whole.model_copy(update={"done": True})
    await packages.delete("v1")
    assert await packages.get("v1") is None


async def test_a_package_stored_before_the_record_had_done_reads_as_not_done(collection: Collection) -> None:
    await collection.insert("v1", {"ladder": ["720p"], "variants": {"720p": variant("720p", 720).model_dump()}})
    assert await Packages(collection).get("v1") == Package(ladder=["720p"], variants={"720p": variant("720p", 720)})
