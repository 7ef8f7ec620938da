"""What the unit tests of a service's domain run on: the embedded adapters (files, SQLite, the memory bus)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from vodkit_shared.bus import Subscription
from vodkit_shared.bus.memory import MemoryBus
from vodkit_shared.events import Envelope
from vodkit_shared.metadata import MetadataStore, open_metadata
from vodkit_shared.storage import ObjectStorage, open_storage


@dataclass
class Adapters:
    storage: ObjectStorage
    metadata: MetadataStore
    bus: MemoryBus

    async def heard(self, event_type: str) -> list[Envelope]:
        """Every `event_type` published from now on, in order, as a list that fills as they come."""
        heard: list[Envelope] = []

        async def hear(envelope: Envelope) -> None:
            heard.append(envelope)

        await self.bus.subscribe(Subscription("probe", event_type, hear))
        return heard


@pytest.fixture
async def adapters(tmp_path: Path) -> AsyncIterator[Adapters]:
    storage = await open_storage(f"file://{tmp_path / 'objects'}")
    metadata = await open_metadata(f"sqlite:///{tmp_path / 'meta.db'}")
    bus = MemoryBus(f"unit-{tmp_path.name}")
    try:
        yield Adapters(storage, metadata, bus)
    finally:
        await bus.close()
        await metadata.close()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[MetadataStore]:
    """A metadata store of its own (SQLite) for a test of one domain collection."""
    opened = await open_metadata(f"sqlite:///{tmp_path / 'meta.db'}")
    yield opened
    await opened.close()
