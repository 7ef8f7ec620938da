"""Open the analytics store in the database the metadata URL names (the same `sqlite:///…` or `mongodb://…`)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from vodkit_shared.analytics.mongo import MongoAnalytics
from vodkit_shared.analytics.port import AnalyticsStore
from vodkit_shared.analytics.sqlite import SqliteAnalytics


async def open_analytics(url: str) -> AnalyticsStore:
    """`sqlite:///relative.db`, `sqlite:////abs/file.db`, or `mongodb://host:port/database`; indexes made here."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        sqlite = SqliteAnalytics(Path(unquote(parts.path[1:])))
        await sqlite.open()
        return sqlite
    if parts.scheme in ("mongodb", "mongodb+srv"):
        mongo = MongoAnalytics(url, parts.path.strip("/") or "vodkit")
        await mongo.open()
        return mongo
    raise ValueError(f"unsupported metadata URL scheme {parts.scheme!r} (use sqlite:/// or mongodb://)")
