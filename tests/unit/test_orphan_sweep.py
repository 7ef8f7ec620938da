"""A tiering pass removes objects that a late write left for a deleted video, in whichever tier they are."""

from __future__ import annotations

from pathlib import Path

import pytest

from vodkit_shared.lifecycle import EndedVideos
from vodkit_shared.metadata import open_metadata
from vodkit_shared.storage import open_storage
from vodkit_shared.tiers import TIERS, Catalogue, TieredStorage
from vodkit_tiering.app import build_tiering, ended_videos
from vodkit_tiering.orphans import OrphanSweep
from vodkit_tiering.settings import TieringSettings

pytestmark = pytest.mark.unit


async def test_a_pass_removes_the_objects_of_deleted_videos_and_says_so(tmp_path: Path) -> None:
    metadata = await open_metadata(f"sqlite:///{tmp_path / 'meta.db'}")
    tiers = {tier: await open_storage(f"file://{tmp_path / tier}") for tier in TIERS}
    storage = TieredStorage(tiers, Catalogue(metadata))
    try:
        for video in ("gone", "kept"):
            await storage.put_bytes(f"renditions/{video}/720p.mp4", b"x" * 10)
            await storage.put_bytes(f"hls/{video}/720p/playlist.m3u8", b"#EXTM3U\n")
        await tiers["warm"].put_bytes("artwork/gone/poster.jpg", b"jpeg")  # as if a move had put it there
        await storage.catalogue.written("artwork/gone/poster.jpg", 4, 0.0)
        await metadata.collection("objects").update("artwork/gone/poster.jpg", lambda doc: {**doc, "tier": "warm"})
        await ended_videos(metadata).record("gone", "deleted")
        await EndedVideos(metadata.collection("tiering_ended")).record("kept", "failed")  # failed: kept

        report = await build_tiering(TieringSettings(), storage, metadata, None).run_pass(now=1.0)

        assert sorted(entry.key for entry in report.orphans) == [
            "artwork/gone/poster.jpg",
            "hls/gone/720p/playlist.m3u8",
            "renditions/gone/720p.mp4",
        ]
        for tier in TIERS:
            for kind in ("renditions", "hls", "artwork"):
                assert await tiers[tier].keys(f"{kind}/gone/") == []
        assert await storage.catalogue.of_video("gone") == []
        assert len(await storage.catalogue.of_video("kept")) == 2
        assert await storage.get_bytes("renditions/kept/720p.mp4") == b"x" * 10
    finally:
        await storage.close()
        await metadata.close()


async def test_a_deletion_removes_a_copy_a_move_had_in_flight_and_the_entries(tmp_path: Path) -> None:
    metadata = await open_metadata(f"sqlite:///{tmp_path / 'meta.db'}")
    tiers = {tier: await open_storage(f"file://{tmp_path / tier}") for tier in TIERS}
    storage = TieredStorage(tiers, Catalogue(metadata))
    try:
        await storage.put_bytes("hls/gone/720p/seg_00000.ts", b"x" * 10)
        found = await storage.catalogue.get("hls/gone/720p/seg_00000.ts")
        assert found is not None
        assert await storage.catalogue.intend_move(found, "cold")
        await tiers["cold"].put_bytes("hls/gone/720p/seg_00000.ts", b"x" * 4)  # a copy, half done
        await storage.put_bytes("hls/kept/720p/seg_00000.ts", b"y")

        await OrphanSweep(storage, ended_videos(metadata)).on_video_deleted("gone", "deleted")

        for tier in TIERS:
            assert await tiers[tier].keys("hls/gone/") == []
        assert await storage.catalogue.of_video("gone") == []
        assert await storage.get_bytes("hls/kept/720p/seg_00000.ts") == b"y"
    finally:
        await storage.close()
        await metadata.close()
