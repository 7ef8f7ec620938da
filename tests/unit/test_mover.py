"""The mover, with file tiers and a SQLite catalogue: copy, verify, switch, delete; a racing writer loses nothing."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from vodkit_shared.metadata import Collection, open_metadata
from vodkit_shared.storage import ObjectStorage, open_storage
from vodkit_shared.tiers import TIERS, Catalogue, CatalogueEntry, Tier, TieredStorage
from vodkit_tiering.mover import MoveFailed, Mover
from vodkit_tiering.throttle import Throttle

pytestmark = pytest.mark.unit
KEY = "hls/v1/720p/seg_00000.ts"
DATA = b"segment bytes" * 100


@dataclass
class Rig:
    mover: Mover
    tiers: dict[Tier, ObjectStorage]
    storage: TieredStorage
    objects: Collection  # the catalogue's collection, for states only a test makes

    async def entry(self) -> CatalogueEntry:
        found = await self.storage.catalogue.get(KEY)
        assert found is not None
        return found

    async def holders(self) -> set[str]:
        return {tier for tier in TIERS if await self.tiers[tier].size(KEY) is not None}


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    metadata = await open_metadata(f"sqlite:///{tmp_path / 'meta.db'}")
    tiers = {tier: await open_storage(f"file://{tmp_path / tier}") for tier in TIERS}
    storage = TieredStorage(tiers, Catalogue(metadata))
    await storage.put_bytes(KEY, DATA)
    try:
        yield Rig(Mover(tiers, storage.catalogue, Throttle(10**9)), tiers, storage, metadata.collection("objects"))
    finally:
        await storage.close()
        await metadata.close()


async def test_a_move_leaves_one_verified_copy_in_the_destination(rig: Rig) -> None:
    moved = await rig.mover.move(await rig.entry(), "warm")
    assert moved is not None
    assert (moved.source, moved.destination, moved.size) == ("hot", "warm", len(DATA))
    entry = await rig.entry()
    assert (entry.tier, entry.moving_to, entry.stale_in) == ("warm", None, None)
    assert entry.sha256 == hashlib.sha256(DATA).hexdigest()
    assert await rig.holders() == {"warm"}
    assert await rig.storage.get_bytes(KEY) == DATA


async def test_a_writer_that_replaces_the_object_mid_move_wins_and_nothing_is_lost(rig: Rig) -> None:
    found = await rig.entry()
    await rig.storage.put_bytes(KEY, b"newer bytes")  # the writer comes first: the move's entry is stale
    assert await rig.mover.move(found, "warm") is None
    assert (await rig.entry()).tier == "hot"
    assert await rig.holders() == {"hot"}
    assert await rig.storage.get_bytes(KEY) == b"newer bytes"


async def test_a_copy_that_does_not_verify_is_dropped_and_the_object_stays(rig: Rig) -> None:
    entry = (await rig.entry()).model_copy(update={"sha256": "0" * 64})  # the source no longer matches
    await rig.objects.update(KEY, lambda doc: {**doc, "sha256": "0" * 64})
    with pytest.raises(MoveFailed, match="SHA-256"):
        await rig.mover.move(entry, "cold")
    assert (await rig.entry()).tier == "hot"
    assert (await rig.entry()).moving_to is None
    assert await rig.holders() == {"hot"}
