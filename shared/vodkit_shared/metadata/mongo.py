"""MongoDB adapter through pymongo's native async client.

Each document is stored as `{_id: key, v: version, doc: {...}}`; compare-and-set is an
`update_one` filtered on `v`.
"""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from vodkit_shared.metadata.port import Collection, Document, DuplicateKey, MetadataStore


class MongoStore(MetadataStore):
    def __init__(self, url: str, database: str) -> None:
        self._client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url, tz_aware=True)
        self._db: AsyncDatabase[dict[str, Any]] = self._client[database]

    def collection(self, name: str) -> Collection:
        return _MongoCollection(self._db[name])

    async def ping(self) -> None:
        await self._client.admin.command("ping")

    async def close(self) -> None:
        await self._client.close()


class _MongoCollection(Collection):
    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self._c = collection

    async def insert(self, key: str, doc: Document) -> None:
        try:
            await self._c.insert_one({"_id": key, "v": 1, "doc": doc})
        except DuplicateKeyError:
            raise DuplicateKey(key) from None

    async def get(self, key: str) -> Document | None:
        current = await self._read(key)
        return current[0] if current else None

    async def _read(self, key: str) -> tuple[Document, int] | None:
        row = await self._c.find_one({"_id": key})
        return (dict(row["doc"]), int(row["v"])) if row else None

    async def _write_if(self, key: str, doc: Document, version: int) -> bool:
        result = await self._c.update_one({"_id": key, "v": version}, {"$set": {"doc": doc, "v": version + 1}})
        return result.modified_count == 1

    async def delete(self, key: str) -> bool:
        return (await self._c.delete_one({"_id": key})).deleted_count == 1

    async def find(self, field: str, value: Any) -> list[Document]:
        cursor = self._c.find({f"doc.{field}": value}).sort("_id", 1)
        return [dict(row["doc"]) async for row in cursor]

    async def increment(self, key: str, field: str, amount: int, initial: Document) -> int:
        row = await self._c.find_one_and_update(
            {"_id": key},
            {
                "$inc": {f"doc.{field}": amount, "v": 1},
                "$setOnInsert": {f"doc.{name}": value for name, value in initial.items() if name != field},
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        assert row is not None  # an upsert returning the document after always finds one
        return int(row["doc"][field])
