"""What the packager has done for each video, kept in the metadata store (collection `packages`).

Every change is a compare-and-set, so concurrent packagers of one video's rungs agree on when its
ladder is whole.
"""

from __future__ import annotations

import contextlib

from pydantic import BaseModel, Field

from vodkit_packager.hls import Variant
from vodkit_shared.metadata import Collection, Document, DuplicateKey


class Package(BaseModel):
    """One video's HLS as far as it is packaged."""

    ladder: list[str] = Field(description="The rungs the first packaged rendition said the video has.")
    variants: dict[str, Variant] = Field(default_factory=dict, description="rung → how the master lists it")
    done: bool = Field(False, description="The master is written and `package.done` published.")

    def has_every(self, rungs: list[str]) -> bool:
        return set(rungs) <= set(self.variants)


class Packages:
    def __init__(self, collection: Collection) -> None:
        self._c = collection

    async def get(self, video_id: str) -> Package | None:
        doc = await self._c.get(video_id)
        return Package.model_validate(doc) if doc else None

    async def record_variant(self, video_id: str, ladder: list[str], variant: Variant) -> Package:
        """Add a packaged rung (the package is created with `ladder` by the first); the package as stored."""
        with contextlib.suppress(DuplicateKey):
            await self._c.insert(video_id, Package(ladder=ladder).model_dump())

        def add(doc: Document) -> Document:
            return {**doc, "variants": {**doc["variants"], variant.rung: variant.model_dump()}}

        doc = await self._c.update(video_id, add)
        assert doc is not None
        return Package.model_validate(doc)

    async def mark_done(self, video_id: str) -> None:
        await self._c.update(video_id, lambda doc: {**doc, "done": True})

    async def delete(self, video_id: str) -> None:
        await self._c.delete(video_id)
