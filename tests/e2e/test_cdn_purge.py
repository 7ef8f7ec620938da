"""CDN purge for real: Debian's Varnish on loopback in front of the gateway.

Warm the cache (the second request is a hit), then delete the video, or re-package it: the next
request is a miss and answers 404, or the new content.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.e2e.cache import cached, start_varnish, through
from tests.e2e.conftest import Deployment, _start, _stop, _wait_healthy
from tests.e2e.pipeline import VODKIT, Client, service_env, user_token
from tests.support import eventually, free_port
from vodkit_cdn_purge.providers import HttpCacheNodes
from vodkit_cdn_purge.purger import Purger
from vodkit_shared.bus import RetryPolicy, Subscription, open_bus
from vodkit_shared.bus.memory import MemoryBus
from vodkit_shared.events import Envelope, PackageDone
from vodkit_shared.service import start_site

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cached_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Deployment, int]]:
    """`vodkit up` behind Varnish, its cdn-purge pointed at Varnish."""
    root = tmp_path_factory.mktemp("cdn")
    gateway_port = free_port()
    varnish, cache_port = start_varnish(root / "varnish", gateway_port)
    env = service_env(
        data_dir=str(root / "data"),
        x264_preset="veryfast",
        chunk_size=str(256 * 1024),
        cdn_nodes=f'["http://127.0.0.1:{cache_port}"]',
    )
    log = root / "vodkit-up.log"
    process = _start([*VODKIT, "up", "--port", str(gateway_port)], env, log)
    try:
        _wait_healthy(f"http://127.0.0.1:{gateway_port}/readyz", [process], [log])
        yield Deployment(f"http://127.0.0.1:{gateway_port}", env, [log], pid=process.pid), cache_port
    finally:
        _stop([process, varnish])


async def test_deleting_a_video_purges_everything_of_it_from_the_cache(
    cached_site: tuple[Deployment, int], clip: Path
) -> None:
    site, cache = cached_site
    client = Client(site.base_url, user_token(site.env, "alice"))
    video = await client.upload(clip)
    status = await client.wait_until_settled(video)
    assert status["status"] == "completed"
    master = through(cache, status["playbackUrl"])
    playlist = master.replace("master.m3u8", "720p/playlist.m3u8")
    segment = master.replace("master.m3u8", "720p/seg_00000.ts")
    for url in (master, playlist, segment):
        assert (await cached(url))[0::2] == (200, "MISS")
        assert (await cached(url))[0::2] == (200, "HIT")  # warm: the gateway is not asked again

    assert (await client.call("DELETE", f"/api/videos/{video}", client.user_token)).status == 204
    for url in (master, playlist, segment):
        for _ in range(100):  # the purge follows the video.deleted event
            status_code, _, cache_state = await cached(url)
            if cache_state == "MISS":
                break
            await asyncio.sleep(0.1)
        assert (status_code, cache_state) == (404, "MISS"), url


@pytest.fixture
async def origin(tmp_path: Path) -> AsyncIterator[tuple[int, dict[str, int]]]:
    """A stand-in origin whose playlists change each time the video is 're-packaged'."""
    version = {"n": 1}

    async def playlist(request: web.Request) -> web.Response:
        body = f"#EXTM3U\n# version {version['n']} of {request.path}\n"
        return web.Response(text=body, headers={"Cache-Control": "public, max-age=300"})

    app = web.Application()
    app.router.add_get("/videos/{path:.+}", playlist)
    runner, port = await start_site(app, "127.0.0.1", 0)
    yield port, version
    await runner.cleanup()


async def test_repackaging_purges_the_playlists_for_every_token(
    origin: tuple[int, dict[str, int]], tmp_path: Path
) -> None:
    origin_port, version = origin
    varnish, cache = await asyncio.to_thread(start_varnish, tmp_path / "varnish", origin_port)
    bus = await open_bus("memory://cdn-purge-test")
    try:
        async with aiohttp.ClientSession() as http:
            purger = Purger(HttpCacheNodes([f"http://127.0.0.1:{cache}"], http), bus)
            urls = [
                f"http://127.0.0.1:{cache}/videos/v1/master.m3u8?token=a",
                f"http://127.0.0.1:{cache}/videos/v1/master.m3u8?token=b",
                f"http://127.0.0.1:{cache}/videos/v1/720p/playlist.m3u8?token=a",
            ]
            other_video = f"http://127.0.0.1:{cache}/videos/v2/master.m3u8?token=a"
            for url in [*urls, other_video]:
                await cached(url)
                assert (await cached(url))[2] == "HIT"

            version["n"] = 2  # re-packaged
            done = PackageDone(
                master_key="hls/v1/master.m3u8", prefix="hls/v1/", renditions=["720p"], duration_seconds=8
            )
            await purger.on_event(Envelope.wrap(done, video_id="v1"))

            for url in urls:
                status, body, cache_state = await cached(url)
                assert (status, cache_state) == (200, "MISS"), url
                assert b"version 2" in body
            assert (await cached(other_video))[2] == "HIT"  # another video's cache is left alone
    finally:
        await bus.close()
        _stop([varnish])


async def test_an_unreachable_node_fails_the_event_and_the_bus_retries_then_dead_letters_it() -> None:
    """One retry policy: the provider tries once, the bus retries the event (3 deliveries), then dead-letters it."""
    bus = MemoryBus("cdn-purge-unreachable", RetryPolicy(attempts=3, base_delay_s=0.01))
    requests: list[str] = []
    try:
        async with aiohttp.ClientSession(trace_configs=[_counting(requests)]) as http:
            purger = Purger(HttpCacheNodes([f"http://127.0.0.1:{free_port()}"], http), bus)
            await bus.subscribe(Subscription("cdn-purge", PackageDone.TYPE, purger.on_event))
            done = PackageDone(
                master_key="hls/v1/master.m3u8", prefix="hls/v1/", renditions=["720p"], duration_seconds=8
            )
            await bus.publish(Envelope.wrap(done, video_id="v1"))
            dead: list[Envelope] = []

            async def dead_lettered() -> bool:
                dead.extend(await bus.dead_letters("cdn-purge"))
                return bool(dead)

            await eventually(dead_lettered)
        assert len(requests) == 3  # one per delivery, not three per delivery
        assert [envelope.type for envelope in dead] == [PackageDone.TYPE]
    finally:
        await bus.close()


def _counting(requests: list[str]) -> aiohttp.TraceConfig:
    trace = aiohttp.TraceConfig()

    async def on_start(_: object, __: object, params: aiohttp.TraceRequestStartParams) -> None:
        requests.append(params.method)

    trace.on_request_start.append(on_start)
    return trace
