"""A route's `security` in the route table is what the gateway enforces, not only what it documents.

A test app gets extra operations: one per scheme, and one with none. Their handlers check no token
themselves; they only read what the security middleware verified.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from vodkit_gateway.app import create_app
from vodkit_gateway.auth import caller
from vodkit_gateway.keys import CALLER, UPLOAD_GRANT
from vodkit_gateway.openapi import Operation, Reply, Security
from vodkit_gateway.routes import OPERATIONS
from vodkit_gateway.settings import GatewaySettings
from vodkit_shared.service import start_site
from vodkit_shared.tokens import Tokens

pytestmark = pytest.mark.e2e
SECRET = "route-security-secret"
TOKENS = Tokens(SECRET)


async def whoami(request: web.Request) -> web.Response:
    return web.json_response({"user": caller(request)})


async def maybe_who(request: web.Request) -> web.Response:
    return web.json_response({"user": request[CALLER]})


async def upload_of(request: web.Request) -> web.Response:
    return web.json_response({"video": request[UPLOAD_GRANT].video_id})


async def anyone(request: web.Request) -> web.Response:
    return web.json_response({"open": CALLER not in request})


def _extra(path: str, handler: Any, security: Security) -> Operation:
    name = "test" + path.rsplit("/", 1)[-1].title()
    return Operation("GET", path, handler, name, "A test route", "test", {200: Reply("OK.")}, security=security)


EXTRA = [
    _extra("/api/test/user", whoami, "user"),
    _extra("/api/test/optional", maybe_who, "optional_user"),
    _extra("/api/test/upload", upload_of, "upload"),
    _extra("/api/test/open", anyone, "none"),
]


@pytest.fixture
async def base(tmp_path: Path) -> AsyncIterator[str]:
    settings = GatewaySettings(  # type: ignore[call-arg]
        auth_secret=SECRET, data_dir=tmp_path, bus_url=f"memory://security-{uuid.uuid4().hex}", sweep_interval_s=3600
    )
    runner, port = await start_site(create_app(settings, [*OPERATIONS, *EXTRA]), "127.0.0.1", 0)
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def get(url: str, token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        return response.status, await response.json()


async def test_a_route_with_the_user_scheme_refuses_a_missing_or_wrong_token(base: str) -> None:
    assert await get(f"{base}/api/test/user", TOKENS.user_token("alice")) == (200, {"user": "alice"})
    status, body = await get(f"{base}/api/test/user")
    assert (status, body["error"]["code"]) == (401, "unauthorized")
    assert "Authorization: Bearer" in body["error"]["message"]
    status, body = await get(f"{base}/api/test/user", Tokens("another secret").user_token("alice"))
    assert (status, body["error"]["code"]) == (401, "unauthorized")
    assert body["error"]["message"].startswith("invalid user token:")


async def test_optional_user_lets_the_anonymous_in_but_not_a_wrong_token(base: str) -> None:
    assert await get(f"{base}/api/test/optional") == (200, {"user": None})
    assert await get(f"{base}/api/test/optional", TOKENS.user_token("bob")) == (200, {"user": "bob"})
    status, _ = await get(f"{base}/api/test/optional", "not-a-token")
    assert status == 401


async def test_the_upload_scheme_takes_an_upload_token_only(base: str) -> None:
    video = str(uuid.uuid4())
    token, _ = TOKENS.upload_token(video, "alice", 10, None)
    assert await get(f"{base}/api/test/upload", token) == (200, {"video": video})
    status, body = await get(f"{base}/api/test/upload", TOKENS.user_token("alice"))
    assert status == 401
    assert body["error"]["message"].startswith("invalid upload token:")


async def test_a_route_without_a_scheme_is_open_and_its_document_says_so(base: str) -> None:
    assert await get(f"{base}/api/test/open") == (200, {"open": True})
    assert await get(f"{base}/api/test/open", "anything at all") == (200, {"open": True})
    status, document = await get(f"{base}/api/openapi.json")
    assert status == 200
    paths = document["paths"]
    assert paths["/api/test/user"]["get"]["security"] == [{"userToken": []}]
    assert "401" in paths["/api/test/user"]["get"]["responses"]
    assert paths["/api/test/optional"]["get"]["security"] == [{"userToken": []}, {}]
    assert paths["/api/test/upload"]["get"]["security"] == [{"uploadToken": []}]
    assert paths["/api/test/open"]["get"]["security"] == []
    assert "401" not in paths["/api/test/open"]["get"]["responses"]
