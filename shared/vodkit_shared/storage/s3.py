"""S3 adapter (MinIO or any S3 endpoint) through the minio SDK.

The SDK is synchronous; every call runs in a thread so the event loop never blocks. An endpoint that
cannot be reached (after urllib3's own retries, about 3 s) raises `StorageUnavailable`.
`compose` is server-side (`compose_object`) when every part but the last is at least 5 MiB,
as S3 requires; smaller parts are concatenated through a temporary file.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator
from datetime import timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

from minio import Minio
from minio.commonconfig import ComposeSource, CopySource
from minio.error import S3Error
from urllib3.exceptions import MaxRetryError, ProtocolError

from vodkit_shared.storage.port import READ_CHUNK, ObjectNotFound, ObjectStorage, StorageUnavailable, check_key

_MIN_PART = 5 * 1024 * 1024
_MISSING = {"NoSuchKey", "NoSuchObject", "NotFound"}
_UNREACHABLE = (MaxRetryError, ProtocolError, ConnectionError, TimeoutError)  # no answer at all


class S3Storage(ObjectStorage):
    def __init__(self, client: Minio, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    @classmethod
    async def open(cls, endpoint: str, access_key: str, secret_key: str, bucket: str, secure: bool) -> S3Storage:
        client = Minio(endpoint, access_key=access_key, secret_key=secret_key, secure=secure)
        if not await asyncio.to_thread(client.bucket_exists, bucket):
            await asyncio.to_thread(client.make_bucket, bucket)
        return cls(client, bucket)

    async def ping(self) -> None:
        if not await self._call(self._client.bucket_exists):
            raise StorageUnavailable("the bucket does not exist")

    async def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        return await _reaching(method, self._bucket, *args, **kwargs)

    async def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> None:
        await self._call(self._client.fput_object, check_key(key), str(path), content_type=content_type)

    async def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        await self._call(self._client.put_object, check_key(key), BytesIO(data), len(data), content_type=content_type)

    async def get_file(self, key: str, path: Path) -> None:
        try:
            await self._call(self._client.fget_object, check_key(key), str(path))
        except S3Error as error:
            raise _translate(error, key) from None

    async def stream(self, key: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        try:
            response = await self._call(self._client.get_object, check_key(key), offset=offset, length=length or 0)
        except S3Error as error:
            raise _translate(error, key) from None
        try:
            while chunk := await _reaching(response.read, READ_CHUNK):
                yield chunk
        finally:
            response.close()
            response.release_conn()

    async def readable_location(self, key: str) -> str:
        url = await self._call(self._client.presigned_get_object, check_key(key), expires=timedelta(hours=1))
        return str(url)

    async def size(self, key: str) -> int | None:
        try:
            stat = await self._call(self._client.stat_object, check_key(key))
        except S3Error as error:
            if error.code in _MISSING:
                return None
            raise
        return int(stat.size)

    async def keys(self, prefix: str) -> list[str]:
        def list_keys() -> list[str]:
            objects = self._client.list_objects(self._bucket, prefix=prefix, recursive=True)
            return sorted(str(o.object_name) for o in objects)

        return await _reaching(list_keys)  # type: ignore[no-any-return]

    async def delete(self, key: str) -> None:
        await self._call(self._client.remove_object, check_key(key))

    async def compose(self, key: str, sources: list[str]) -> int:
        sizes = [await self.size(source) for source in sources]
        for source, size in zip(sources, sizes, strict=True):
            if size is None:
                raise ObjectNotFound(source)
        if len(sources) == 1:
            await self._call(self._client.copy_object, check_key(key), CopySource(self._bucket, sources[0]))
        elif all(size is not None and size >= _MIN_PART for size in sizes[:-1]):
            parts = [ComposeSource(self._bucket, source) for source in sources]
            await self._call(self._client.compose_object, check_key(key), parts)
        else:
            await self._compose_locally(key, sources)
        return sum(size or 0 for size in sizes)

    async def _compose_locally(self, key: str, sources: list[str]) -> None:
        with tempfile.TemporaryDirectory(prefix="vodkit-compose-") as tmp:
            whole, part = Path(tmp) / "whole", Path(tmp) / "part"
            with whole.open("wb") as out:
                for source in sources:
                    await self.get_file(source, part)
                    with part.open("rb") as src:
                        await asyncio.to_thread(shutil.copyfileobj, src, out)
            await self.put_file(key, whole)


async def _reaching(call: Any, *args: Any, **kwargs: Any) -> Any:
    """`call` in a thread; StorageUnavailable if the endpoint gave no answer."""
    try:
        return await asyncio.to_thread(call, *args, **kwargs)
    except _UNREACHABLE as error:
        raise StorageUnavailable(f"the object store cannot be reached ({type(error).__name__})") from None


def _translate(error: S3Error, key: str) -> Exception:
    return ObjectNotFound(key) if error.code in _MISSING else error
