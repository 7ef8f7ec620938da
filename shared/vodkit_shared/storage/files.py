"""File-system adapter: objects are files under a root directory.

Writes go to a temporary file beside the target and are renamed into place, so a reader
never sees half an object. File work runs in threads, off the event loop.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from vodkit_shared.storage.port import READ_CHUNK, ObjectNotFound, ObjectStorage, check_key


class FileStorage(ObjectStorage):
    def __init__(self, root: Path) -> None:
        self._root = root
        root.mkdir(parents=True, exist_ok=True)

    async def ping(self) -> None:
        if not await asyncio.to_thread(self._root.is_dir):
            raise FileNotFoundError("the storage directory is gone")

    def _path(self, key: str) -> Path:
        return self._root / check_key(key)

    def _write_atomically(self, key: str, fill: bytes | list[Path]) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                if isinstance(fill, bytes):
                    out.write(fill)
                else:
                    for source in fill:
                        with open(source, "rb") as src:
                            shutil.copyfileobj(src, out, READ_CHUNK * 4)
            os.replace(tmp, target)
        except BaseException:
            os.unlink(tmp)
            raise

    async def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> None:
        await asyncio.to_thread(self._write_atomically, key, [path])

    async def adopt_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> None:
        """A rename when the file is on the storage's filesystem: no byte is copied."""
        target = self._path(key)

        def move() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(path, target)
            except OSError:  # another filesystem: copy, then let go of the original
                self._write_atomically(key, [path])
                path.unlink(missing_ok=True)

        await asyncio.to_thread(move)

    async def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        await asyncio.to_thread(self._write_atomically, key, data)

    async def get_file(self, key: str, path: Path) -> None:
        source = self._path(key)
        try:
            await asyncio.to_thread(shutil.copyfile, source, path)
        except FileNotFoundError:
            raise ObjectNotFound(key) from None

    async def stream(self, key: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        try:
            handle = await asyncio.to_thread(open, self._path(key), "rb")
        except (FileNotFoundError, IsADirectoryError):
            raise ObjectNotFound(key) from None
        try:
            if offset:
                await asyncio.to_thread(handle.seek, offset)
            left = length
            while left is None or left > 0:
                chunk = await asyncio.to_thread(handle.read, READ_CHUNK if left is None else min(READ_CHUNK, left))
                if not chunk:
                    break
                if left is not None:
                    left -= len(chunk)
                yield chunk
        finally:
            handle.close()

    async def readable_location(self, key: str) -> str:
        return str(self._path(key))

    async def size(self, key: str) -> int | None:
        path = self._path(key)
        return path.stat().st_size if await asyncio.to_thread(path.is_file) else None

    async def keys(self, prefix: str) -> list[str]:
        def walk() -> list[str]:
            base = self._root / prefix
            if not base.is_dir():
                return []
            return sorted(
                str(p.relative_to(self._root))
                for p in base.rglob("*")
                if p.is_file() and not p.name.startswith(".tmp-")
            )

        return await asyncio.to_thread(walk)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, True)

    async def compose(self, key: str, sources: list[str]) -> int:
        paths = [self._path(source) for source in sources]
        missing = [s for s, p in zip(sources, paths, strict=True) if not p.is_file()]
        if missing:
            raise ObjectNotFound(missing[0])
        await asyncio.to_thread(self._write_atomically, key, paths)
        return self._path(key).stat().st_size
