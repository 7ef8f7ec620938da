"""The metadata port: named collections of JSON documents with compare-and-set updates.

Every read-modify-write goes through `Collection.update`, which retries the caller's pure
change function until its write wins. That is what makes parallel chunk uploads, concurrent
packagers and out-of-order events safe without locks, on SQLite and MongoDB alike.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

Document = dict[str, Any]
Change = Callable[[Document], Document | None]

MAX_CAS_ROUNDS = 100


class DuplicateKey(Exception):
    """A document with that key exists already."""


class ConflictError(Exception):
    """An update lost its compare-and-set race too many times."""


class Collection(ABC):
    @abstractmethod
    async def insert(self, key: str, doc: Document) -> None:
        """Store a new document. Raises DuplicateKey."""

    @abstractmethod
    async def get(self, key: str) -> Document | None:
        """The document, or None."""

    @abstractmethod
    async def _read(self, key: str) -> tuple[Document, int] | None:
        """The document with its version."""

    @abstractmethod
    async def _write_if(self, key: str, doc: Document, version: int) -> bool:
        """Replace the document if its version is still `version`; False if another write won."""

    @abstractmethod
    async def delete(self, key: str) -> bool:
        """Remove the document; True if there was one."""

    @abstractmethod
    async def find(self, field: str, value: Any) -> list[Document]:
        """Documents whose top-level `field` equals `value`."""

    @abstractmethod
    async def increment(self, key: str, field: str, amount: int, initial: Document) -> int:
        """Add `amount` to the integer `field` in one atomic step and return its new value.

        A missing document is created as `initial` with `field` = `amount`. Counters shared by
        several processes (rate limits) need this: a compare-and-set loop would thrash under load.
        """

    async def update(self, key: str, change: Change) -> Document | None:
        """Apply `change` to the current document until the write wins.

        `change` gets a copy and returns the new document, or None to leave it as it is.
        Returns the stored document (None if there is no document under `key`).
        """
        for _ in range(MAX_CAS_ROUNDS):
            current = await self._read(key)
            if current is None:
                return None
            doc, version = current
            new = change(dict(doc))
            if new is None:
                return doc
            if await self._write_if(key, new, version):
                return new
        raise ConflictError(f"update of {key!r} kept losing its race")


class MetadataStore(ABC):
    @abstractmethod
    def collection(self, name: str) -> Collection:
        """The collection `name`, created on first use."""

    def reader(self, name: str) -> Collection:
        """The collection `name`, which this service only reads (`get`, `find`): another service owns it,
        and a deployment grants this one `find` on it and nothing more (deploy/k8s/access), so a write
        through it is refused by the store."""
        return self.collection(name)

    @abstractmethod
    async def ping(self) -> None:
        """Raise if the store cannot be reached (readiness)."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections."""
