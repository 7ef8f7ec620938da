"""Several processes open the one SQLite file of a deployment at once (the distributed tests start six)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from vodkit_shared.metadata.sqlite import SqliteStore

pytestmark = pytest.mark.unit


async def test_stores_opening_a_new_file_at_once_all_open(tmp_path: Path) -> None:
    """Switching a new file to WAL takes a lock SQLite's busy timeout does not wait for: one of
    several services starting together failed with "database is locked" (a CI run's upload service)."""
    for round_ in range(150):
        stores = [SqliteStore(tmp_path / str(round_) / "metadata.db") for _ in range(8)]
        try:
            await asyncio.gather(*(store.open() for store in stores))
        finally:
            await asyncio.gather(*(store.close() for store in stores), return_exceptions=True)
