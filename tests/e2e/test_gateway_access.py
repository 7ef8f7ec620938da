"""The gateway's access rules over real HTTP: user tokens (HS256 and RS256 from a JWKS), visibility,
rate limits shared by replicas, CORS, security headers and body limits.

These run gateways in the test's own process (no upload service, no transcoder): what they
check happens before any of that.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk, jwt

from vodkit_gateway.app import create_app
from vodkit_gateway.settings import GatewaySettings
from vodkit_shared.service import start_site
from vodkit_shared.tokens import Tokens

pytestmark = pytest.mark.e2e
SECRET = "gateway-access-secret"
StartGateway = Callable[..., Awaitable[str]]


@pytest.fixture
async def start_gateway(tmp_path: Path) -> AsyncIterator[StartGateway]:
    """`await start_gateway(**settings)` serves a gateway and returns its URL; gateways share one data dir."""
    runners: list[web.AppRunner] = []

    async def start(**settings: Any) -> str:
        bus = f"memory://gateway-{uuid.uuid4().hex}"  # a bus of its own: each test has its own event loop
        defaults = {"auth_secret": SECRET, "data_dir": tmp_path, "bus_url": bus, "sweep_interval_s": 3600}
        runner, port = await start_site(create_app(GatewaySettings(**{**defaults, **settings})), "127.0.0.1", 0)
        runners.append(runner)
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


async def call(
    method: str, url: str, token: str | None = None, headers: dict[str, str] | None = None, **kwargs: Any
) -> tuple[int, Any, dict[str, str]]:
    headers = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
    async with aiohttp.ClientSession() as http, http.request(method, url, headers=headers, **kwargs) as response:
        body = await response.read()
        parsed = await response.json(content_type=None) if body and response.content_type.endswith("json") else body
        return response.status, parsed, dict(response.headers)


def user(name: str) -> str:
    return Tokens(SECRET).user_token(name)


async def create(base: str, token: str, **fields: Any) -> str:
    status, body, _ = await call("POST", f"{base}/api/videos", token, json={"filename": "a.mp4", "size": 10, **fields})
    assert status == 201, body
    return str(body["videoId"])


# ---- rate limits ---------------------------------------------------------------------------------


async def test_one_budget_holds_across_two_replicas(start_gateway: StartGateway) -> None:
    one = await start_gateway(rate_limit_read=6, rate_limit_window_s=60)
    two = await start_gateway(rate_limit_read=6, rate_limit_window_s=60)
    remaining = []
    for i in range(6):  # alternate replicas: six requests in all are allowed, not six each
        status, _, headers = await call("GET", f"{(one, two)[i % 2]}/api/videos", user("alice"))
        assert status == 200
        remaining.append(int(headers["RateLimit-Remaining"]))
        assert headers["RateLimit-Limit"] == "6"
        assert headers["RateLimit-Policy"] == "6;w=60"
    assert remaining == [5, 4, 3, 2, 1, 0]
    for base in (one, two):
        status, body, headers = await call("GET", f"{base}/api/videos", user("alice"))
        assert status == 429
        assert body["error"]["code"] == "rate_limited"
        assert 1 <= int(headers["Retry-After"]) <= 120
        assert headers["RateLimit-Remaining"] == "0"


async def test_route_classes_have_their_own_budgets(start_gateway: StartGateway) -> None:
    base = await start_gateway(rate_limit_read=2, rate_limit_playback=50, rate_limit_window_s=60)
    for _ in range(2):
        assert (await call("GET", f"{base}/api/videos", user("alice")))[0] == 200
    assert (await call("GET", f"{base}/api/videos", user("alice")))[0] == 429
    video = "0b6c1f3e-5d8a-4c2e-9f1a-2b3c4d5e6f70"
    status, _, headers = await call("GET", f"{base}/videos/{video}/master.m3u8?token=x")
    assert status == 403  # refused for its token, not for the API reads' spent budget
    assert headers["RateLimit-Limit"] == "50"
    status, _, headers = await call("GET", f"{base}/healthz")  # health checks are never limited
    assert status == 200
    assert "RateLimit-Limit" not in headers


async def test_behind_a_proxy_the_forwarded_client_is_limited(start_gateway: StartGateway) -> None:
    base = await start_gateway(rate_limit_read=1, rate_limit_window_s=60, trusted_proxy_hops=1)
    as_client = {"X-Forwarded-For": "203.0.113.7"}  # anonymous: limited by address
    assert (await call("GET", f"{base}/api/videos/public", headers=as_client))[0] == 200
    assert (await call("GET", f"{base}/api/videos/public", headers=as_client))[0] == 429
    other = {"X-Forwarded-For": "spoofed, 198.51.100.9"}  # only the last hop, the proxy's own, is believed
    assert (await call("GET", f"{base}/api/videos/public", headers=other))[0] == 200


async def test_a_user_token_is_limited_per_user_whatever_the_address(start_gateway: StartGateway) -> None:
    base = await start_gateway(rate_limit_read=2, rate_limit_window_s=60, trusted_proxy_hops=1)
    office, home = {"X-Forwarded-For": "203.0.113.7"}, {"X-Forwarded-For": "198.51.100.9"}
    assert (await call("GET", f"{base}/api/videos", user("alice"), office))[0] == 200
    assert (await call("GET", f"{base}/api/videos", user("alice"), home))[0] == 200
    status, _, _ = await call("GET", f"{base}/api/videos", user("alice"), office)
    assert status == 429  # one budget for alice, from both addresses
    for who in ("bob", "carol"):  # others behind the same address have their own
        assert (await call("GET", f"{base}/api/videos", user(who), office))[0] == 200
    assert (await call("GET", f"{base}/api/videos/public", headers=office))[0] == 200  # and so does anonymous
    status, _, _ = await call("GET", f"{base}/api/videos", "not-a-token", home)
    assert status == 401  # a bad token is still refused; it drew on the address's budget, not alice's
    assert (await call("GET", f"{base}/api/videos/public", headers=home))[0] == 200
    assert (await call("GET", f"{base}/api/videos/public", headers=home))[0] == 429


async def test_an_upload_token_is_limited_as_its_user(start_gateway: StartGateway) -> None:
    base = await start_gateway(rate_limit_upload=2, rate_limit_window_s=60, trusted_proxy_hops=1)
    status, grant, _ = await call("POST", f"{base}/api/videos", user("alice"), json={"filename": "a.mp4", "size": 9})
    assert status == 201
    statuses = []
    for address in ("203.0.113.7", "198.51.100.9", "192.0.2.1"):  # alice's upload, from three addresses
        headers = {"X-Forwarded-For": address, "Content-Type": "multipart/form-data; boundary=b"}
        statuses.append((await call("POST", f"{base}/api/videos/upload", grant["uploadToken"], headers))[0])
    assert statuses == [503, 503, 429]  # no upload service behind this gateway: refused for that, then limited


async def test_status_polls_have_their_own_budget_and_writes_keep_the_seeds(start_gateway: StartGateway) -> None:
    base = await start_gateway(rate_limit_api=2, rate_limit_read=30, rate_limit_window_s=60)
    alice = user("alice")
    video = await create(base, alice)
    for _ in range(20):  # a client polling its video: reads, not the write budget
        status, _, headers = await call("GET", f"{base}/api/videos/{video}/status", alice)
        assert status == 200
        assert headers["RateLimit-Limit"] == "30"
    await create(base, alice)
    status, body, headers = await call("POST", f"{base}/api/videos", alice, json={"filename": "a.mp4", "size": 1})
    assert (status, body["error"]["code"], headers["RateLimit-Limit"]) == (429, "rate_limited", "2")
    assert (await call("GET", f"{base}/api/videos/{video}/status", alice))[0] == 200


def etag(headers: dict[str, str]) -> str:
    return next(value for name, value in headers.items() if name.lower() == "etag")


async def test_a_status_poll_is_answered_304_while_nothing_changed(start_gateway: StartGateway) -> None:
    base = await start_gateway()
    alice = user("alice")
    url = f"{base}/api/videos/{await create(base, alice)}/status"
    status, body, headers = await call("GET", url, alice)
    assert (status, body["status"]) == (200, "uploading")
    tag = etag(headers)
    for held in (tag, f"W/{tag}", f'"other", {tag}'):
        status, body, headers = await call("GET", url, alice, {"If-None-Match": held})
        assert (status, body, etag(headers)) == (304, b"", tag), held
        assert "RateLimit-Remaining" in headers
    status, body, _ = await call("GET", url, alice, {"If-None-Match": '"other"'})
    assert (status, body["status"]) == (200, "uploading")
    assert (await call("GET", url, user("bob"), {"If-None-Match": tag}))[0] == 403  # access before freshness


# ---- user tokens ---------------------------------------------------------------------------------


@pytest.fixture
async def identity_provider() -> AsyncIterator[tuple[str, Callable[..., str]]]:
    """A JWKS endpoint with one RSA key, and `sign(claims, kid=…, key=…)` for its tokens."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    public = jwk.construct(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        "RS256",
    ).to_dict()
    fetches = []

    async def keys(_: web.Request) -> web.Response:
        fetches.append(time.monotonic())
        return web.json_response({"keys": [{**public, "kid": "k1", "use": "sig"}]})

    app = web.Application()
    app.router.add_get("/.well-known/jwks.json", keys)
    runner, port = await start_site(app, "127.0.0.1", 0)

    def sign(claims: dict[str, Any], kid: str = "k1", signing_key: bytes = pem) -> str:
        now = int(time.time())
        return jwt.encode({"iat": now, "exp": now + 600, **claims}, signing_key, "RS256", headers={"kid": kid})

    yield f"http://127.0.0.1:{port}/.well-known/jwks.json", sign
    await runner.cleanup()


async def test_rs256_tokens_are_checked_against_the_providers_keys(
    start_gateway: StartGateway, identity_provider: tuple[str, Callable[..., str]]
) -> None:
    url, sign = identity_provider
    base = await start_gateway(jwks_url=url, jwt_issuer="https://id.example", jwt_audience="vodkit")
    good = {"sub": "carol", "iss": "https://id.example", "aud": "vodkit"}
    video = await create(base, sign(good))
    status, body, _ = await call("GET", f"{base}/api/videos/{video}", sign(good))
    assert status == 200, body

    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    refused = {
        "signed by another key": sign(good, signing_key=other_key),
        "unknown key id": sign(good, kid="k9"),
        "wrong audience": sign({**good, "aud": "someone-else"}),
        "wrong issuer": sign({**good, "iss": "https://evil.example"}),
        "expired": sign({**good, "exp": int(time.time()) - 60}),
        "no subject": sign({k: v for k, v in good.items() if k != "sub"}),
        "alg none": jwt.encode(good, "", "HS256")
        .rsplit(".", 1)[0]
        .replace("eyJhbGciOiJIUzI1NiIs", "eyJhbGciOiJub25lIiwi")
        + ".",
        "HS256 signed with the public key": jwt.encode(good, "not-the-secret", "HS256"),
    }
    for reason, token in refused.items():
        status, body, _ = await call("GET", f"{base}/api/videos", token)
        assert status == 401, reason
        assert body["error"]["code"] == "unauthorized", reason
    # vodkit's own HS256 tokens still work beside the provider's
    assert (await call("GET", f"{base}/api/videos", user("dave")))[0] == 200


# ---- visibility ----------------------------------------------------------------------------------


async def test_private_unlisted_and_public(start_gateway: StartGateway) -> None:
    base = await start_gateway()
    alice, bob = user("alice"), user("bob")
    video = await create(base, alice)
    url = f"{base}/api/videos/{video}"
    assert (await call("GET", url, alice))[1]["visibility"] == "private"
    assert (await call("GET", url, bob))[0] == 403
    assert (await call("GET", url))[0] == 401
    assert (await call("GET", f"{url}/status", bob))[0] == 403

    status, body, _ = await call("PATCH", url, bob, json={"visibility": "public"})
    assert (status, body["error"]["code"]) == (403, "forbidden")
    assert (await call("DELETE", url, bob))[0] == 403
    status, body, _ = await call("PATCH", url, alice, json={"visibility": "unlisted"})
    assert (status, body["visibility"]) == (200, "unlisted")
    assert (await call("GET", url, bob))[0] == 200
    assert (await call("GET", f"{url}/status"))[0] == 200  # anyone with the id

    assert [v["videoId"] for v in (await call("GET", f"{base}/api/videos", alice))[1]["videos"]] == [video]
    assert (await call("GET", f"{base}/api/videos", bob))[1]["videos"] == []
    assert (await call("GET", f"{base}/api/videos/public"))[1]["videos"] == []  # unlisted, and not yet completed
    status, body, _ = await call("PATCH", url, alice, json={"visibility": "everyone"})
    assert status == 400
    assert "visibility" in body["error"]["message"]
    # uploading: deleting now would let late chunks bring objects back
    assert (await call("DELETE", url, alice))[0] == 409


async def test_ids_that_are_not_uuids_never_reach_a_store(start_gateway: StartGateway) -> None:
    base = await start_gateway()
    for video in ("..", "..%2F..%2Fetc", "ABC", "0b6c1f3e-5d8a-4c2e-9f1a-2b3c4d5e6f7g", "x" * 300):
        status, body, _ = await call("GET", f"{base}/api/videos/{video}", user("alice"))
        assert status == 404, video
        assert body["error"]["code"] == "not_found"


# ---- browsers: CORS, security headers; bodies ----------------------------------------------------


async def test_cors_only_for_configured_origins(start_gateway: StartGateway) -> None:
    base = await start_gateway(cors_origins=["https://app.example"])
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    status, _, headers = await call("OPTIONS", f"{base}/api/videos", headers=preflight)
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "Authorization" in headers["Access-Control-Allow-Headers"]
    status, _, headers = await call("GET", f"{base}/api/videos", user("a"), {"Origin": "https://app.example"})
    assert headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "RateLimit-Remaining" in headers["Access-Control-Expose-Headers"]
    status, _, headers = await call("GET", f"{base}/api/videos", user("a"), {"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in headers


async def test_security_headers_on_answers_and_errors(start_gateway: StartGateway) -> None:
    base = await start_gateway()
    for path in ("/api/videos", "/api/nothing", "/"):
        _, _, headers = await call("GET", base + path, user("a"))
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert headers["X-Frame-Options"] == "DENY", path
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], path
    _, _, headers = await call("GET", base + "/")
    assert "script-src 'self'" in headers["Content-Security-Policy"]


async def test_aiohttps_own_error_answers_carry_the_security_headers(start_gateway: StartGateway) -> None:
    """A header over aiohttp's 8 KiB limit is answered before routing, by aiohttp itself."""
    base = await start_gateway()
    status, _, headers = await call("GET", base + "/api/videos", headers={"X-Padding": "x" * 9000})
    assert status == 400
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


async def test_a_player_on_another_site_may_preflight_a_range_request(start_gateway: StartGateway) -> None:
    base = await start_gateway()
    preflight = {
        "Origin": "https://player.example",
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "range",
    }
    path = "/videos/0b6c1f3e-5d8a-4c2e-9f1a-2b3c4d5e6f70/720p/seg_00000.ts?token=x"
    status, _, headers = await call("OPTIONS", base + path, headers=preflight)
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "Range" in headers["Access-Control-Allow-Headers"]
    assert "GET" in headers["Access-Control-Allow-Methods"]


async def test_json_bodies_have_a_size_limit(start_gateway: StartGateway) -> None:
    base = await start_gateway(max_json_bytes=1024)
    padded = {"filename": "a.mp4", "size": 10, "sha256": None, "visibility": "private"}
    body = ('{"filename": "' + "x" * 2000 + '", "size": 10}').encode()
    status, reply, _ = await call(
        "POST", f"{base}/api/videos", user("a"), {"Content-Type": "application/json"}, data=body
    )
    assert (status, reply["error"]["code"]) == (413, "too_large")
    assert (await call("POST", f"{base}/api/videos", user("a"), json=padded))[0] == 201


async def test_my_videos_arrive_as_server_sent_events(start_gateway: StartGateway) -> None:
    base = await start_gateway(live_stream_s=1.5, live_poll_s=0.1)
    alice = user("alice")
    first = await create(base, alice)

    async def later() -> None:
        await asyncio.sleep(0.5)
        await create(base, alice, filename="b.mp4")

    creating = asyncio.create_task(later())
    status, body, headers = await call("GET", f"{base}/api/videos/live", alice)
    await creating
    assert status == 200
    assert headers["Content-Type"].startswith("text/event-stream")
    events = [block for block in body.decode().split("\n\n") if block]
    assert len(events) == 2  # the list now, and once more when b.mp4 appeared
    assert all(e.startswith("event: videos\ndata: ") for e in events)
    assert first in events[0]
    assert "b.mp4" in events[1]
