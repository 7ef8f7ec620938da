"""SQLite adapter for the embedded mode.

One connection, used from one worker thread, keeps the event loop free. WAL mode and a busy
timeout let several processes share the file (the distributed tests run that way).
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from vodkit_shared.metadata.port import Collection, Document, DuplicateKey, MetadataStore

T = TypeVar("T")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


BUSY_TIMEOUT_S = 30


def _use_wal(db: sqlite3.Connection) -> None:
    """Switch the file to WAL (kept in the file: later opens find it so). The switch takes a lock that
    SQLite's busy timeout does not wait for, so when several processes open a new file at once, some
    are refused with "database is locked" at once: they try again until the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class SqliteStore(MetadataStore):
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._path = path
        self._db: sqlite3.Connection | None = None
        self._tables: set[str] = set()

    async def open(self) -> None:
        def connect() -> sqlite3.Connection:
            db = sqlite3.connect(self._path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
            _use_wal(db)
            db.execute("PRAGMA synchronous=NORMAL")
            return db

        self._db = await self.run(connect)

    async def run(self, work: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, work, *args)

    def connection(self, table: str) -> sqlite3.Connection:
        """The connection, with `table` created (called on the worker thread)."""
        assert self._db is not None, "open() first"
        if table not in self._tables:
            self._db.execute(
                f'CREATE TABLE IF NOT EXISTS "{table}" '
                "(key TEXT PRIMARY KEY, version INTEGER NOT NULL, doc TEXT NOT NULL)"
            )
            self._tables.add(table)
        return self._db

    def collection(self, name: str) -> Collection:
        if not _NAME.match(name):
            raise ValueError(f"invalid collection name {name!r}")
        return _SqliteCollection(self, name)

    async def ping(self) -> None:
        await self.run(lambda: self.connection("_ping"))

    async def close(self) -> None:
        if self._db is not None:
            await self.run(self._db.close)
            self._db = None
        self._executor.shutdown(wait=True)


class _SqliteCollection(Collection):
    def __init__(self, store: SqliteStore, table: str) -> None:
        self._store = store
        self._table = table

    async def _sql(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        def execute() -> list[tuple[Any, ...]]:
            return self._store.connection(self._table).execute(sql.format(t=self._table), params).fetchall()

        return list(await self._store.run(execute))

    async def _changed(self, sql: str, *params: Any) -> int:
        def execute() -> int:
            return self._store.connection(self._table).execute(sql.format(t=self._table), params).rowcount

        return int(await self._store.run(execute))

    async def insert(self, key: str, doc: Document) -> None:
        try:
            await self._changed('INSERT INTO "{t}" (key, version, doc) VALUES (?, 1, ?)', key, json.dumps(doc))
        except sqlite3.IntegrityError:
            raise DuplicateKey(key) from None

    async def get(self, key: str) -> Document | None:
        current = await self._read(key)
        return current[0] if current else None

    async def _read(self, key: str) -> tuple[Document, int] | None:
        rows = await self._sql('SELECT doc, version FROM "{t}" WHERE key = ?', key)
        return (json.loads(rows[0][0]), int(rows[0][1])) if rows else None

    async def _write_if(self, key: str, doc: Document, version: int) -> bool:
        changed = await self._changed(
            'UPDATE "{t}" SET doc = ?, version = version + 1 WHERE key = ? AND version = ?',
            json.dumps(doc),
            key,
            version,
        )
        return changed == 1

    async def delete(self, key: str) -> bool:
        return await self._changed('DELETE FROM "{t}" WHERE key = ?', key) == 1

    async def find(self, field: str, value: Any) -> list[Document]:
        _check_field(field)
        rows = await self._sql('SELECT doc FROM "{t}" WHERE json_extract(doc, ?) = ? ORDER BY key', f"$.{field}", value)
        return [json.loads(row[0]) for row in rows]

    async def increment(self, key: str, field: str, amount: int, initial: Document) -> int:
        _check_field(field)
        rows = await self._sql(
            'INSERT INTO "{t}" (key, version, doc) VALUES (?, 1, ?) ON CONFLICT (key) DO UPDATE SET '
            "doc = json_set(doc, ?, coalesce(json_extract(doc, ?), 0) + ?), version = version + 1 "
            "RETURNING json_extract(doc, ?)",
            key,
            json.dumps({**initial, field: amount}),
            f"$.{field}",
            f"$.{field}",
            amount,
            f"$.{field}",
        )
        return int(rows[0][0])


def _check_field(field: str) -> None:
    if not _FIELD.match(field):
        raise ValueError(f"invalid field name {field!r}")
