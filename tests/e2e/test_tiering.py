"""Storage tiers for real: a video ages through hot → warm → cold in simulated days and still plays,
comes back to hot when watched, survives a tiering pass killed at every step, and leaves nothing
behind when deleted.

`vodkit tier run --now …` runs in its own process over the same data directory as the running
`vodkit up`, as a CronJob would beside the services.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urljoin

import aiohttp
import pytest

from tests.e2e.conftest import Deployment, _embedded
from tests.e2e.pipeline import VODKIT, Client, service_env, wait_for_quality
from tests.support import eventually
from vodkit_shared.metadata import open_metadata
from vodkit_shared.storage import open_storage
from vodkit_shared.tiers import TIERS, Catalogue, TieredStorage

pytestmark = pytest.mark.e2e
FAILPOINTS = ["tier.after_intent", "tier.after_copy", "tier.after_verify", "tier.after_switch", "tier.after_delete"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    yield from _embedded(tmp_path_factory, "tiering", access_flush_s="0.2")


def tier_run(env: dict[str, str], now: datetime, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*VODKIT, "tier", "run", "--now", now.isoformat()],
        env={**env, **{f"VODKIT_{k.upper()}": v for k, v in extra.items()}},
        capture_output=True,
        text=True,
        timeout=120,
    )


async def fetch_all(playback_url: str) -> dict[str, str]:
    """Every object a player would fetch, by path without the token, with its SHA-256."""
    seen: dict[str, str] = {}
    async with aiohttp.ClientSession() as http:

        async def get(url: str) -> bytes:
            async with http.get(url) as response:
                assert response.status == 200, (url, response.status)
                body = await response.read()
                unsigned = re.sub(rb"\?token=[^\s\"#]+", b"", body)  # playlists carry each URL's own token
                seen[url.split("?")[0].split("/videos/")[1]] = hashlib.sha256(unsigned).hexdigest()
                return body

        master = (await get(playback_url)).decode()
        for variant in re.findall(r"^[^#\s].*$", master, re.MULTILINE):
            playlist_url = urljoin(playback_url, variant)
            playlist = (await get(playlist_url)).decode()
            for segment in re.findall(r"^[^#\s].*$", playlist, re.MULTILINE):
                await get(urljoin(playlist_url, segment))
    return seen


def objects_of(data_dir: Path, video: str) -> dict[str, set[str]]:
    """For each tier, the keys of `video` it holds on disk."""
    roots = {"hot": data_dir / "objects", "warm": data_dir / "tiers" / "warm", "cold": data_dir / "tiers" / "cold"}
    return {
        tier: {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and f"/{video}/" in f"/{p}"}
        for tier, root in roots.items()
    }


async def test_a_video_ages_through_every_tier_plays_throughout_and_comes_back_when_watched(
    site: Deployment, clip: Path
) -> None:
    client = Client(site.base_url, site.token("alice"))
    video = await client.upload(clip)
    status = await client.wait_until_settled(video)
    assert status["status"] == "completed"
    await wait_for_quality(client, video, {"720p", "480p"})  # its last read of the renditions is done
    data_dir = Path(site.env["VODKIT_DATA_DIR"])
    before = await fetch_all(status["playbackUrl"])
    everything = set().union(*objects_of(data_dir, video).values())
    assert everything == objects_of(data_dir, video)["hot"]
    start = datetime.now(UTC)

    for days, tier in ((31, "warm"), (91, "cold")):
        ran = tier_run(site.env, start + timedelta(days=days))
        assert ran.returncode == 0, ran.stderr
        assert f"{video}: " in ran.stdout
        assert f"→ {tier}, {len(everything)} objects" in ran.stdout, ran.stdout
        where = objects_of(data_dir, video)
        assert where[tier] == everything, where  # all of it, and only there
        assert set(TIERS) - {tier} == {t for t, keys in where.items() if not keys}
        status = (await client.call("GET", f"/api/videos/{video}/status", client.user_token)).body
        watched_at = time.time()
        assert await fetch_all(status["playbackUrl"]) == before  # it plays, byte for byte
        async with opened(data_dir) as storage:  # and every object, not only what a player fetches, is intact
            for entry in await storage.catalogue.of_video(video):
                assert entry.tier == tier
                assert entry.sha256 == await storage.tiers[tier].sha256(entry.key), entry.key
    print(ran.stdout)

    async def watch_recorded() -> bool:  # the gateway writes accesses down every 0.2 s here
        async with opened(data_dir) as storage:
            return (await storage.catalogue.last_access(video) or 0.0) >= watched_at

    await eventually(watch_recorded, timeout=15, interval=0.2)
    ran = tier_run(site.env, datetime.now(UTC) + timedelta(days=1))
    assert ran.returncode == 0, ran.stderr
    assert f"cold → hot, {len(everything)} objects" in ran.stdout, ran.stdout
    assert objects_of(data_dir, video)["hot"] == everything

    ran = tier_run(site.env, start + timedelta(days=31))
    assert ran.returncode == 0, ran.stderr
    assert (await client.call("DELETE", f"/api/videos/{video}", client.user_token)).status == 204
    assert objects_of(data_dir, video) == {"hot": set(), "warm": set(), "cold": set()}
    metadata = await open_metadata(f"sqlite:///{data_dir / 'vodkit.db'}")
    try:
        assert await Catalogue(metadata).of_video(video) == []
    finally:
        await metadata.close()


@pytest.mark.parametrize("backend", ["file", "s3"])
async def test_a_pass_killed_at_any_step_loses_nothing_and_the_next_pass_finishes_it(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path
) -> None:
    objects = {f"hls/{video}/720p/seg_{i:05d}.ts": os.urandom(50_000 + i) for video in ("v1", "v2") for i in range(6)}
    for failpoint in FAILPOINTS:
        data_dir = tmp_path / failpoint
        urls = file_tiers(data_dir)
        if backend == "s3":  # three buckets, as the manifests have them
            server, run = request.getfixturevalue("s3_server"), uuid.uuid4().hex[:8]
            urls = {tier: f"{server}/{tier}-{run}" for tier in TIERS}
        env = service_env(
            data_dir=str(data_dir),
            tier_bytes_per_s="0",
            storage_url=urls["hot"],
            tier_warm_url=urls["warm"],
            tier_cold_url=urls["cold"],
        )
        async with opened(data_dir, urls) as storage:
            for key, data in objects.items():
                await storage.put_bytes(key, data)

        killed = tier_run(env, datetime.now(UTC) + timedelta(days=40), failpoint=failpoint)
        assert killed.returncode == -signal.SIGKILL, (failpoint, killed.stdout, killed.stderr)
        async with opened(data_dir, urls) as storage:
            for key, data in objects.items():  # every object is read whole from the tier its entry names
                entry = await storage.catalogue.get(key)
                assert entry is not None
                assert await storage.tiers[entry.tier].get_bytes(key) == data, (failpoint, key)
                assert await storage.get_bytes(key) == data

        finished = tier_run(env, datetime.now(UTC) + timedelta(days=40))
        assert finished.returncode == 0, finished.stderr
        async with opened(data_dir, urls) as storage:
            for key, data in objects.items():
                entry = await storage.catalogue.get(key)
                assert entry is not None
                assert (entry.tier, entry.moving_to, entry.stale_in) == ("warm", None, None), (failpoint, entry)
                assert entry.sha256 == hashlib.sha256(data).hexdigest()
                assert await storage.tiers["warm"].get_bytes(key) == data
                assert await storage.tiers["hot"].size(key) is None, (failpoint, key)  # no copy left behind
                assert await storage.tiers["cold"].size(key) is None, (failpoint, key)


def test_now_must_be_a_time(tmp_path: Path) -> None:
    ran = subprocess.run(
        [*VODKIT, "tier", "run", "--now", "next tuesday"],
        env=service_env(data_dir=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 2
    assert "ISO-8601" in ran.stderr


def file_tiers(data_dir: Path) -> dict[str, str]:
    """The tiers of an embedded data directory, as `vodkit up` lays them out."""
    roots = {"hot": "objects", "warm": "tiers/warm", "cold": "tiers/cold"}
    return {tier: f"file://{data_dir / roots[tier]}" for tier in TIERS}


@asynccontextmanager
async def opened(data_dir: Path, urls: dict[str, str] | None = None) -> AsyncIterator[TieredStorage]:
    """The tiered storage the services of `data_dir` use (file tiers unless `urls` says otherwise)."""
    metadata = await open_metadata(f"sqlite:///{data_dir / 'vodkit.db'}")
    urls = urls or file_tiers(data_dir)
    tiers = {tier: await open_storage(urls[tier]) for tier in TIERS}
    storage = TieredStorage(tiers, Catalogue(metadata))
    try:
        yield storage
    finally:
        await storage.close()
        await metadata.close()
