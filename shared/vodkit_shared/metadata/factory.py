"""Open the metadata store a URL names."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from vodkit_shared.metadata.mongo import MongoStore
from vodkit_shared.metadata.port import MetadataStore
from vodkit_shared.metadata.sqlite import SqliteStore


async def open_metadata(url: str) -> MetadataStore:
    """`sqlite:///relative.db`, `sqlite:////abs/file.db`, or `mongodb://host:port/database`."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        store = SqliteStore(Path(unquote(parts.path[1:])))
        await store.open()
        return store
    if parts.scheme in ("mongodb", "mongodb+srv"):
        database = parts.path.strip("/") or "vodkit"
        mongo = MongoStore(url, database)
        await mongo.ping()
        return mongo
    raise ValueError(f"unsupported metadata URL scheme {parts.scheme!r} (use sqlite:/// or mongodb://)")
