"""The object storage port: whole objects by key, streamed, never held whole in memory."""

from __future__ import annotations

import asyncio
import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from pathlib import Path

_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*$")
READ_CHUNK = 256 * 1024


class ObjectNotFound(KeyError):
    """No object has that key."""


class StorageUnavailable(Exception):
    """The object store cannot be reached now (refused, reset, timed out): worth waiting for, not a failure."""


def check_key(key: str) -> str:
    """Keys are relative, '/'-separated, of safe characters, with no '..' or empty parts."""
    if not _KEY.match(key) or ".." in key.split("/"):
        raise ValueError(f"invalid storage key {key!r}")
    return key


class ObjectStorage(ABC):
    @abstractmethod
    async def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> None:
        """Store a local file under `key`, replacing any object there."""

    async def adopt_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> None:
        """Store a local file the caller will not use again (it may be moved rather than copied)."""
        await self.put_file(key, path, content_type)
        await asyncio.to_thread(path.unlink, True)

    @abstractmethod
    async def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        """Store small data (playlists, manifests) under `key`."""

    @abstractmethod
    async def get_file(self, key: str, path: Path) -> None:
        """Copy the object to a local file. Raises ObjectNotFound."""

    @abstractmethod
    def stream(self, key: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """Yield the object's bytes from `offset`, at most `length` of them, in chunks.

        Raises ObjectNotFound before the first chunk.
        """

    @abstractmethod
    async def size(self, key: str) -> int | None:
        """Bytes in the object, or None if there is none."""

    @abstractmethod
    async def keys(self, prefix: str) -> list[str]:
        """Keys under `prefix` (a folder-like prefix ending in '/'), sorted."""

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Remove the object; removing a missing one is not an error."""

    @abstractmethod
    async def compose(self, key: str, sources: list[str]) -> int:
        """Concatenate `sources` into `key`, server-side where the backend can; returns the size."""

    @abstractmethod
    async def readable_location(self, key: str) -> str:
        """A path or short-lived URL from which ffmpeg/ffprobe can read the object."""

    async def sha256(self, key: str) -> str:
        """Hex SHA-256 of the object, read once in chunks (hashing off the event loop)."""
        digest = hashlib.sha256()
        async for chunk in self.stream(key):
            await asyncio.to_thread(digest.update, chunk)
        return digest.hexdigest()

    async def get_bytes(self, key: str) -> bytes:
        return b"".join([chunk async for chunk in self.stream(key)])

    async def delete_prefix(self, prefix: str) -> int:
        keys = await self.keys(prefix)
        for key in keys:
            await self.delete(key)
        return len(keys)

    @abstractmethod
    async def ping(self) -> None:
        """Raise (StorageUnavailable for S3) if the store cannot be used now (readiness)."""

    async def close(self) -> None:
        """Release connections."""
