"""The edge VCL for real (deploy/edge/varnish/vodkit.vcl, the shipped file): Debian's Varnish with its
digest vmod on loopback, checking playback tokens itself, in front of `vodkit up`.

Fifty viewers with fifty tokens cost the origin one fetch of each segment, poster and sprite; a bad
token is refused at the edge, the origin never asked; deleting a video purges the one shared copy.
What reaches the origin is counted by a proxy between the cache and the gateway. Against a stand-in
origin: playlists are kept per token and never longer than the origin's Cache-Control says, ranges
and a PURGE by path reach the one copy of a segment, and an edge without the playback key refuses
playback instead of letting it through unchecked.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.e2e.cache import EDGE_VCL, CountingOrigin, audience, cached, need_digest_vmod, start_varnish
from tests.e2e.conftest import Deployment, _start, _stop, _wait_healthy
from tests.e2e.pipeline import VODKIT, Client, get, service_env, user_token
from tests.support import free_port
from vodkit_shared.service import start_site
from vodkit_shared.tokens import Tokens

pytestmark = pytest.mark.e2e
VIEWERS = 50


@dataclass
class Edge:
    site: Deployment
    cache: int  # the cache's port
    origin: CountingOrigin
    tokens: Tokens  # minted with the deployment's secret, as the gateway mints them

    def url(self, video: str, path: str, token: str | None) -> str:
        query = "" if token is None else f"?token={token}"
        return f"http://127.0.0.1:{self.cache}/videos/{video}/{path}{query}"


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    """`vodkit up` behind the edge VCL (its playback key from `vodkit edge-key`), its cdn-purge pointed at
    the cache, and a counting proxy as the cache's origin."""
    need_digest_vmod()
    root = tmp_path_factory.mktemp("edge")
    gateway_port = free_port()
    secret = uuid.uuid4().hex
    env = service_env(
        data_dir=str(root / "data"), auth_secret=secret, x264_preset="veryfast", chunk_size=str(256 * 1024)
    )
    key = subprocess.run([*VODKIT, "edge-key"], env=env, check=True, capture_output=True, text=True).stdout.strip()
    assert key == Tokens(secret).playback_key()
    with CountingOrigin(gateway_port) as origin:
        varnish, cache = start_varnish(root / "varnish", origin.port, EDGE_VCL, {"VODKIT_EDGE_PLAYBACK_KEY": key})
        env["VODKIT_CDN_NODES"] = json.dumps([f"http://127.0.0.1:{cache}"])
        log = root / "vodkit-up.log"
        process = _start([*VODKIT, "up", "--port", str(gateway_port)], env, log)
        try:
            _wait_healthy(f"http://127.0.0.1:{gateway_port}/readyz", [process], [log])
            site = Deployment(f"http://127.0.0.1:{gateway_port}", env, [log], pid=process.pid)
            yield Edge(site, cache, origin, Tokens(secret))
        finally:
            _stop([process, varnish])


@pytest.fixture(scope="module")
def videos(edge: Edge, clip: Path) -> list[str]:
    """Two completed videos of alice's, packaged side by side: one to watch, one to delete."""

    async def upload() -> list[str]:
        client = Client(edge.site.base_url, user_token(edge.site.env, "alice"))
        ids = await asyncio.gather(client.upload(clip), client.upload(clip))
        for status in await asyncio.gather(*(client.wait_until_settled(video) for video in ids)):
            assert status["status"] == "completed", status
        return list(ids)

    return asyncio.run(upload())


async def test_fifty_viewers_with_fifty_tokens_cost_the_origin_one_fetch_of_each_segment_and_image(
    edge: Edge, videos: list[str]
) -> None:
    video = videos[0]
    tokens = [edge.tokens.playback_token(video, ttl_s=3600 + n) for n in range(VIEWERS)]
    assert len(set(tokens)) == VIEWERS
    viewings = await audience([edge.url(video, "master.m3u8", token) for token in tokens])
    images = await asyncio.gather(*(_artwork(edge, video, token) for token in tokens))

    segments = sorted(path for path in viewings[0].bodies if "/seg_" in path)
    assert len(segments) >= 2
    assert all(viewing.bodies.keys() == viewings[0].bodies.keys() for viewing in viewings)
    for path in segments:
        assert {viewing.bodies[path] for viewing in viewings} == {viewings[0].bodies[path]}
    shared = [*segments, *images[0]]
    # once over the whole module: the other tests never fetch these with a valid token first
    assert {path: edge.origin.fetches[path] for path in shared} == dict.fromkeys(shared, 1)
    status, direct, _ = await get(f"{edge.site.base_url}{segments[0]}?token={tokens[0]}")
    assert (status, direct) == (200, viewings[0].bodies[segments[0]])  # the shared copy is the origin's

    # rewritten per token by the origin: one copy per viewer, each fetched from it
    per_token = [path for path in viewings[0].bodies if path.endswith(".m3u8")] + [
        f"/videos/{video}/storyboard/storyboard.vtt"
    ]
    assert len(per_token) == 3
    assert {path: edge.origin.fetches[path] for path in per_token} == dict.fromkeys(per_token, VIEWERS)


async def _artwork(edge: Edge, video: str, token: str) -> set[str]:
    """The poster and the storyboard's first sprite sheet, as the web player fetches them."""
    async with aiohttp.ClientSession() as http:
        paths = set()
        async with http.get(edge.url(video, "poster.jpg", token)) as response:
            assert (response.status, (await response.read())[:2]) == (200, b"\xff\xd8")
            paths.add(response.url.path)
        async with http.get(edge.url(video, "storyboard/storyboard.vtt", token)) as response:
            assert response.status == 200
            cue = next(line for line in (await response.text()).splitlines() if "#xywh=" in line)
        sprite = f"storyboard/{cue.split('#')[0].split('?')[0]}"
        async with http.get(edge.url(video, sprite, token)) as response:
            assert (response.status, (await response.read())[:2]) == (200, b"\xff\xd8")
            paths.add(response.url.path)
        return paths


async def test_a_bad_token_is_refused_at_the_edge_and_the_origin_is_not_asked(edge: Edge, videos: list[str]) -> None:
    video, other = videos
    good = edge.tokens.playback_token(video, ttl_s=600)
    header, _, signature = good.split(".")
    other_claims = base64.urlsafe_b64encode(
        json.dumps({"videoId": other, "iat": 0, "exp": 4102444800}, separators=(",", ":")).encode()
    )
    refused = {
        "no token": None,
        "not a JWT": "not-a-token",
        "signed with another key": Tokens("another secret").playback_token(video, ttl_s=600),
        "claims swapped under a good signature": f"{header}.{other_claims.decode().rstrip('=')}.{signature}",
        "a user token (the secret itself, not the playback key)": edge.tokens.user_token("alice"),
        "expired": edge.tokens.playback_token(video, ttl_s=-5),
        "another video's": edge.tokens.playback_token(other, ttl_s=600),
    }
    paths = ["master.m3u8", "720p/playlist.m3u8", "720p/seg_00000.ts", "poster.jpg", "storyboard/sprite_000.jpg"]
    for path in paths[2:]:  # cached now: a copy in the cache is refused all the same
        assert (await cached(edge.url(video, path, good)))[0] == 200

    asked = edge.origin.total()
    for case, token in refused.items():
        for path in paths:
            status, body, headers = await get(edge.url(video, path, token))
            assert status == 403, (case, path, status, body[:300])
            assert len(body) < 200, body
            assert json.loads(body)["error"]["code"] == "forbidden", (case, body)
            assert "X-Cache" not in headers  # answered by the edge itself, before any lookup
    assert edge.origin.total() == asked, edge.origin.fetches

    # the origin still checks tokens itself, for whoever reaches it directly
    status, body, _ = await get(f"{edge.site.base_url}/videos/{video}/720p/seg_00000.ts?token={refused['expired']}")
    assert status == 403, body


async def test_deleting_a_video_purges_the_shared_copies_every_token_was_served(edge: Edge, videos: list[str]) -> None:
    video = videos[1]
    owner = Client(edge.site.base_url, user_token(edge.site.env, "alice"))
    shared = ["720p/seg_00001.ts", "poster.jpg"]
    for path in shared:
        assert (await cached(edge.url(video, path, edge.tokens.playback_token(video, 600))))[0] == 200
        later = edge.tokens.playback_token(video, 601)  # another viewer: the same copy
        assert (await cached(edge.url(video, path, later)))[0::2] == (200, "HIT")

    assert (await owner.call("DELETE", f"/api/videos/{video}", owner.user_token)).status == 204
    token = edge.tokens.playback_token(video, 602)  # still a valid token: the edge lets it through
    for path in shared:
        for _ in range(100):  # the purge follows the video.deleted event
            status, _, cache_state = await cached(edge.url(video, path, token))
            if cache_state == "MISS":
                break
            await asyncio.sleep(0.1)
        assert (status, cache_state) == (404, "MISS"), path


@pytest.fixture
async def stand_in(tmp_path: Path) -> AsyncIterator[tuple[int, list[tuple[str, str]]]]:
    """An origin that answers any playback path with the Cache-Control the test gives it, and
    records what it was asked (path, token)."""
    asked: list[tuple[str, str]] = []
    controls = {
        "preview/playlist.m3u8": "public, max-age=1",
        "720p/seg_00000.ts": "public, max-age=31536000",
        "keys/00000.key": "public, max-age=3600",  # a key's answer as no origin should send it
    }

    async def answer(request: web.Request) -> web.Response:
        asked.append((request.path, request.query.get("token", "")))
        control = controls.get(request.match_info["path"])
        headers = {"Cache-Control": control} if control else {}
        return web.Response(text=f"{request.path} {len(asked)}\n", headers=headers)

    app = web.Application()
    app.router.add_get("/videos/{video}/{path:.+}", answer)
    app.router.add_get("/api/{path:.+}", answer)
    runner, port = await start_site(app, "127.0.0.1", 0)
    yield port, asked
    await runner.cleanup()


async def test_playlists_are_cached_per_token_never_longer_than_the_origin_says(
    stand_in: tuple[int, list[tuple[str, str]]], tmp_path: Path
) -> None:
    need_digest_vmod()
    port, asked = stand_in
    tokens = Tokens(uuid.uuid4().hex)
    key = {"VODKIT_EDGE_PLAYBACK_KEY": tokens.playback_key()}
    varnish, cache = await asyncio.to_thread(start_varnish, tmp_path / "varnish", port, EDGE_VCL, key)
    try:
        video = str(uuid.uuid4())
        first, second = tokens.playback_token(video, 600), tokens.playback_token(video, 601)

        def url(path: str, token: str) -> str:
            return f"http://127.0.0.1:{cache}/videos/{video}/{path}?token={token}"

        # the live-style EVENT playlist: one second, then the origin again
        assert (await cached(url("preview/playlist.m3u8", first)))[0::2] == (200, "MISS")
        assert (await cached(url("preview/playlist.m3u8", first)))[0::2] == (200, "HIT")
        assert (await cached(url("preview/playlist.m3u8", second)))[0::2] == (200, "MISS")  # another token's copy
        await asyncio.sleep(1.5)
        assert (await cached(url("preview/playlist.m3u8", first)))[0::2] == (200, "MISS")
        # no max-age from the origin: not kept at all (Varnish's default TTL would keep it 2 minutes)
        for _ in range(2):
            assert (await cached(url("720p/playlist.m3u8", first)))[0::2] == (200, "MISS")
        # a segment: one copy for both tokens
        assert (await cached(url("720p/seg_00000.ts", first)))[0::2] == (200, "MISS")
        assert (await cached(url("720p/seg_00000.ts", second)))[0::2] == (200, "HIT")
        status, body, headers = await get(url("720p/seg_00000.ts", second), {"Range": "bytes=0-6"})
        assert (status, body, headers["X-Cache"]) == (206, b"/videos", "HIT")  # ranges come from the one copy
        # PURGE by the bare path (VODKIT_CDN_METHOD=PURGE) reaches the shared copy
        purged, _, _ = await get(f"http://127.0.0.1:{cache}/videos/{video}/720p/seg_00000.ts", method="PURGE")
        assert purged == 200
        assert (await cached(url("720p/seg_00000.ts", second)))[0::2] == (200, "MISS")
        # every request reached the origin with the viewer's own token
        assert asked == [
            (f"/videos/{video}/preview/playlist.m3u8", first),
            (f"/videos/{video}/preview/playlist.m3u8", second),
            (f"/videos/{video}/preview/playlist.m3u8", first),
            (f"/videos/{video}/720p/playlist.m3u8", first),
            (f"/videos/{video}/720p/playlist.m3u8", first),
            (f"/videos/{video}/720p/seg_00000.ts", first),
            (f"/videos/{video}/720p/seg_00000.ts", second),
        ]
    finally:
        _stop([varnish])


async def test_an_encrypted_videos_keys_are_checked_at_the_edge_and_never_kept_there(
    stand_in: tuple[int, list[tuple[str, str]]], tmp_path: Path
) -> None:
    """Even an answer that says it may be kept: a key in a cache would open the segments to whoever reached it."""
    need_digest_vmod()
    port, asked = stand_in
    tokens = Tokens(uuid.uuid4().hex)
    key = {"VODKIT_EDGE_PLAYBACK_KEY": tokens.playback_key()}
    varnish, cache = await asyncio.to_thread(start_varnish, tmp_path / "varnish", port, EDGE_VCL, key)
    try:
        video = str(uuid.uuid4())
        token = tokens.playback_token(video, 600)
        url = f"http://127.0.0.1:{cache}/videos/{video}/keys/00000.key"
        for _ in range(2):
            assert (await cached(f"{url}?token={token}"))[0::2] == (200, "MISS")
        other = tokens.playback_token(str(uuid.uuid4()), 600)
        assert (await cached(f"{url}?token={other}"))[0] == 403  # refused at the edge
        assert asked == [(f"/videos/{video}/keys/00000.key", token)] * 2
    finally:
        _stop([varnish])


async def test_the_api_and_the_web_page_pass_through_the_edge_uncached(
    stand_in: tuple[int, list[tuple[str, str]]], tmp_path: Path
) -> None:
    """Only playback objects are the edge's to keep: an API answer without Authorization or a cookie
    (an upload's state, a tus offset) would otherwise be kept two minutes by Varnish's builtin rules."""
    need_digest_vmod()
    port, asked = stand_in
    key = {"VODKIT_EDGE_PLAYBACK_KEY": Tokens(uuid.uuid4().hex).playback_key()}
    varnish, cache = await asyncio.to_thread(start_varnish, tmp_path / "varnish", port, EDGE_VCL, key)
    try:
        for _ in range(2):
            status, body, state = await cached(f"http://127.0.0.1:{cache}/api/videos/v1/upload")
            assert (status, state) == (200, "MISS"), body
        assert asked == [("/api/videos/v1/upload", "")] * 2
    finally:
        _stop([varnish])


async def test_an_edge_without_the_playback_key_refuses_playback_rather_than_let_it_through(
    stand_in: tuple[int, list[tuple[str, str]]], tmp_path: Path
) -> None:
    need_digest_vmod()
    port, asked = stand_in
    varnish, cache = await asyncio.to_thread(start_varnish, tmp_path / "varnish", port, EDGE_VCL)
    try:
        token = Tokens(uuid.uuid4().hex).playback_token("v1", 600)
        status, body, _ = await get(f"http://127.0.0.1:{cache}/videos/v1/720p/seg_00000.ts?token={token}")
        assert status == 503, body
        assert json.loads(body)["error"]["code"] == "unavailable"
        assert asked == []
    finally:
        _stop([varnish])
