"""One object from one tier to another: copy → verify (size, SHA-256) → switch the catalogue → delete the source.

This module moves the bytes (throttled, through a local file) and checks them; each change to the
object's catalogue entry is a step of the tier-move protocol, and the steps, with the
compare-and-set condition of each and what a move killed between them leaves, are in
`vodkit_shared.tiers.catalogue`, the one home of the protocol.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from vodkit_shared.failpoints import failpoint
from vodkit_shared.storage import ObjectNotFound, ObjectStorage
from vodkit_shared.tiers import Catalogue, CatalogueEntry, Tier
from vodkit_tiering.throttle import Throttle

log = logging.getLogger(__name__)


class MoveFailed(Exception):
    """The copy did not verify; the object stays where it was."""


@dataclass(frozen=True)
class Moved:
    key: str
    source: Tier
    destination: Tier
    size: int


class Mover:
    def __init__(self, tiers: dict[Tier, ObjectStorage], catalogue: Catalogue, throttle: Throttle) -> None:
        self._tiers = tiers
        self._catalogue = catalogue
        self._throttle = throttle

    async def move(self, entry: CatalogueEntry, destination: Tier) -> Moved | None:
        """Move the object; None if a writer replaced it meanwhile (nothing moved, nothing lost)."""
        key, source = entry.key, entry.tier
        if entry.moving_to not in (None, destination):  # an older intent: its copy is not wanted
            await self._tiers[entry.moving_to].delete(key)
        if not await self._catalogue.intend_move(entry, destination):
            return None
        failpoint("tier.after_intent")
        sha256 = await self._copy(key, source, destination)
        failpoint("tier.after_copy")
        await self._verify(entry, destination, sha256)
        failpoint("tier.after_verify")
        if not await self._catalogue.switch(entry, destination, sha256):
            await self._tiers[destination].delete(key)
            return None
        failpoint("tier.after_switch")
        await self.drop_stale_copy(key, source)
        return Moved(key, source, destination, entry.size)

    async def drop_stale_copy(self, key: str, tier: Tier) -> None:
        """Delete the copy a switched move left behind, then forget it was there."""
        await self._tiers[tier].delete(key)
        failpoint("tier.after_delete")
        await self._catalogue.stale_dropped(key, tier)

    async def _copy(self, key: str, source: Tier, destination: Tier) -> str:
        """Stream the source through a local file into the destination, at the throttled rate."""
        digest = hashlib.sha256()
        fd, name = tempfile.mkstemp(prefix="vodkit-tier-")
        spool = Path(name)
        try:
            out = await asyncio.to_thread(open, fd, "wb")
            try:
                async for chunk in self._tiers[source].stream(key):
                    await self._throttle.take(len(chunk))
                    await asyncio.to_thread(_write_and_hash, out, digest, chunk)
            finally:
                await asyncio.to_thread(out.close)
            await self._tiers[destination].put_file(key, spool)
        finally:
            await asyncio.to_thread(spool.unlink, True)
        return digest.hexdigest()

    async def _verify(self, entry: CatalogueEntry, destination: Tier, sha256: str) -> None:
        store = self._tiers[destination]
        problems = []
        if (size := await store.size(entry.key)) != entry.size:
            problems.append(f"size {size} is not {entry.size}")
        if entry.sha256 is not None and entry.sha256 != sha256:
            problems.append("the source no longer matches its recorded SHA-256")
        try:
            if await store.sha256(entry.key) != sha256:
                problems.append("the copy's SHA-256 differs from the source's")
        except ObjectNotFound:
            problems.append("the copy is missing")
        if problems:
            await store.delete(entry.key)
            await self._catalogue.abandon_move(entry.key, destination)
            raise MoveFailed(f"{entry.key} → {destination}: {'; '.join(problems)}")


def _write_and_hash(out: BinaryIO, digest: hashlib._Hash, chunk: bytes) -> None:
    out.write(chunk)
    digest.update(chunk)
