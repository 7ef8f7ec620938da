"""Open the storage a URL names."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from vodkit_shared.storage.files import FileStorage
from vodkit_shared.storage.port import ObjectStorage
from vodkit_shared.storage.s3 import S3Storage


async def open_storage(url: str) -> ObjectStorage:
    """`file:///abs/dir`, or `http(s)://ACCESS:SECRET@host:port/bucket` for MinIO or any S3 endpoint."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return FileStorage(Path(unquote(parts.path)))
    if parts.scheme in ("http", "https"):
        bucket = parts.path.strip("/")
        if not (bucket and parts.username and parts.password and parts.hostname):
            raise ValueError("S3 storage URL needs http(s)://ACCESS:SECRET@host:port/bucket")
        endpoint = parts.hostname + (f":{parts.port}" if parts.port else "")
        return await S3Storage.open(
            endpoint, unquote(parts.username), unquote(parts.password), bucket, parts.scheme == "https"
        )
    raise ValueError(f"unsupported storage URL scheme {parts.scheme!r} (use file:// or http(s)://)")
