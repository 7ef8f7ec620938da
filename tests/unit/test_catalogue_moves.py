"""The tier-move protocol's steps on the catalogue: each a compare-and-set a racing writer defeats."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from vodkit_shared.metadata import open_metadata
from vodkit_shared.tiers import Catalogue, CatalogueEntry

pytestmark = pytest.mark.unit
KEY = "hls/v1/720p/seg_00000.ts"
SHA = "a" * 64


@pytest.fixture
async def catalogue(tmp_path: Path) -> AsyncIterator[Catalogue]:
    metadata = await open_metadata(f"sqlite:///{tmp_path / 'meta.db'}")
    try:
        catalogue = Catalogue(metadata)
        await catalogue.written(KEY, 10, now=1.0)
        yield catalogue
    finally:
        await metadata.close()


async def entry(catalogue: Catalogue) -> CatalogueEntry:
    found = await catalogue.get(KEY)
    assert found is not None
    return found


async def test_intent_switch_and_drop_walk_the_entry_to_its_new_tier(catalogue: Catalogue) -> None:
    found = await entry(catalogue)
    assert await catalogue.intend_move(found, "warm")
    assert (await entry(catalogue)).copies == {"hot", "warm"}
    assert await catalogue.switch(found, "warm", SHA)
    switched = await entry(catalogue)
    assert (switched.tier, switched.moving_to, switched.stale_in, switched.sha256) == ("warm", None, "hot", SHA)
    await catalogue.stale_dropped(KEY, "hot")
    assert (await entry(catalogue)).copies == {"warm"}


async def test_a_writer_between_intent_and_switch_makes_the_switch_fail(catalogue: Catalogue) -> None:
    found = await entry(catalogue)
    assert await catalogue.intend_move(found, "warm")
    before = await catalogue.written(KEY, 12, now=2.0)
    assert before is not None
    assert before.copies == {"hot", "warm"}  # what the writer must delete
    assert not await catalogue.switch(found, "warm", SHA)
    assert not await catalogue.intend_move(found, "cold")
    assert (await entry(catalogue)).copies == {"hot"}


async def test_an_abandoned_intent_is_forgotten_unless_another_replaced_it(catalogue: Catalogue) -> None:
    found = await entry(catalogue)
    assert await catalogue.intend_move(found, "warm")
    assert await catalogue.intend_move(found, "cold")  # a newer intent wins
    await catalogue.abandon_move(KEY, "warm")
    assert (await entry(catalogue)).moving_to == "cold"
    await catalogue.abandon_move(KEY, "cold")
    assert (await entry(catalogue)).moving_to is None
