"""A request body, from the socket to a local temporary file, hashed on the way: the one spool of both upload APIs.

Memory holds one read at a time, so a chunk of any size costs the same few hundred KiB. The file
is removed when the block ends, unless storage adopted (moved) it first.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path

from vodkit_upload.errors import TooLarge

ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256}


@dataclass(frozen=True)
class SpooledBody:
    path: Path
    size: int
    digests: dict[str, bytes]  # raw digest by algorithm: always sha256, and any other asked for

    @property
    def sha256(self) -> str:
        """Hex SHA-256, the form chunk checksums and session records use."""
        return self.digests["sha256"].hex()


@contextlib.asynccontextmanager
async def spooled(
    body: AsyncIterable[bytes], limit: int, too_large: str, algorithms: Iterable[str] = ()
) -> AsyncIterator[SpooledBody]:
    """Spool `body` (at most `limit` bytes, else TooLarge(too_large)); the file lives as long as the block."""
    fd, name = await asyncio.to_thread(tempfile.mkstemp, prefix="vodkit-spool-")
    await asyncio.to_thread(os.close, fd)
    path = Path(name)
    try:
        yield await _write(body, path, limit, too_large, {"sha256", *algorithms})
    finally:
        await asyncio.to_thread(path.unlink, True)


async def _write(body: AsyncIterable[bytes], path: Path, limit: int, too_large: str, names: set[str]) -> SpooledBody:
    hashes = {name: ALGORITHMS[name]() for name in names}
    size = 0
    out = await asyncio.to_thread(path.open, "wb")

    def keep(data: bytes) -> None:
        out.write(data)
        for digest in hashes.values():
            digest.update(data)

    try:
        async for data in body:
            size += len(data)
            if size > limit:
                raise TooLarge(too_large)
            await asyncio.to_thread(keep, data)
    finally:
        await asyncio.to_thread(out.close)
    return SpooledBody(path, size, {name: digest.digest() for name, digest in hashes.items()})
