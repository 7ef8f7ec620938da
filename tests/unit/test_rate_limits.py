"""The default budgets, on a clock the test moves: polling is never refused, creating keeps the seed's
limit; and the status's ETag."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from vodkit_gateway.api import unless_unchanged
from vodkit_gateway.app import create_app
from vodkit_gateway.ratelimit import RateLimiter, budgets, rate_classes, route_class
from vodkit_gateway.routes import OPERATIONS
from vodkit_gateway.settings import GatewaySettings
from vodkit_shared.metadata import open_metadata

pytestmark = pytest.mark.unit
CLASSES = rate_classes(OPERATIONS)
STATUS = CLASSES[("GET", "/api/videos/{video_id}/status")]
CREATE = CLASSES[("POST", "/api/videos")]


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0 + 123.4  # not on a window's boundary

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def limiter(tmp_path: Path, clock: Clock) -> AsyncIterator[RateLimiter]:
    store = await open_metadata(f"sqlite:///{tmp_path / 'metadata.db'}")
    yield RateLimiter(store.collection("rate_limits"), budgets(GatewaySettings()), clock)
    await store.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def test_polling_a_status_once_a_second_for_an_hour_is_never_refused(limiter: RateLimiter, clock: Clock) -> None:
    for second in range(3600):
        decision = await limiter.hit(STATUS, "user:alice")
        assert decision.allowed, f"refused after {second} s of polling"
        clock.now += 1
    assert decision.remaining >= decision.limit // 3  # with room for a second client of the same user


async def test_creating_videos_keeps_the_seeds_hundred_per_fifteen_minutes(limiter: RateLimiter, clock: Clock) -> None:
    assert limiter.budget(CREATE).requests == 100
    assert limiter.budget(CREATE).window_s == 15 * 60
    for _ in range(100):
        assert (await limiter.hit(CREATE, "user:alice")).allowed
        clock.now += 1
    refused = await limiter.hit(CREATE, "user:alice")
    assert not refused.allowed
    assert 1 <= refused.reset_s <= 15 * 60
    assert (await limiter.hit(CREATE, "user:bob")).allowed  # per user: bob has his own hundred
    assert (await limiter.hit(STATUS, "user:alice")).allowed  # and alice may still read


def test_every_route_draws_on_the_budget_meant_for_it() -> None:
    assert {path: CLASSES[("GET", path)] for path in ("/api/videos", "/api/videos/live", "/api/videos/public")} == {
        "/api/videos": "read",
        "/api/videos/live": "read",
        "/api/videos/public": "read",
    }
    assert [CLASSES[(method, "/api/videos/{video_id}")] for method in ("GET", "PATCH", "DELETE")] == [
        "read",
        "api",
        "api",
    ]
    assert CLASSES[("POST", "/api/videos/{video_id}/upload-token")] == "api"
    assert CLASSES[("POST", "/api/videos/upload")] == CLASSES[("PATCH", "/api/uploads/{video_id}")] == "upload"
    assert CLASSES[("GET", "/videos/{video_id}/{rung}/{segment}")] == "playback"
    assert CLASSES[("GET", "/healthz")] is None


def test_a_changed_status_is_sent_again_with_a_new_etag() -> None:
    def answer(progress: int, held: str = "") -> web.Response:
        request = make_mocked_request("GET", "/", headers={"If-None-Match": held} if held else {})
        return unless_unchanged(request, web.json_response({"status": "processing", "progress": progress}))

    first = answer(40)
    assert (answer(40, first.headers["ETag"]).status, answer(40, first.headers["ETag"]).body) == (304, None)
    changed = answer(41, first.headers["ETag"])
    assert changed.status == 200
    assert changed.headers["ETag"] != first.headers["ETag"]


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/api/videos/0b6c1f3e-5d8a-4c2e-9f1a-2b3c4d5e6f70/status", "read"),
        ("HEAD", "/api/videos/0b6c1f3e-5d8a-4c2e-9f1a-2b3c4d5e6f70/status", "read"),  # a GET's HEAD, as its GET
        ("HEAD", "/api/uploads/0b6c1f3e-5d8a-4c2e-9f1a-2b3c4d5e6f70", "upload"),  # tus's own HEAD
        ("DELETE", "/api/videos/0b6c1f3e-5d8a-4c2e-9f1a-2b3c4d5e6f70", "api"),
        ("GET", "/api/no-such-thing", "api"),  # no operation: the strict budget
        ("PUT", "/api/videos", "api"),
        ("GET", "/healthz", None),
        ("GET", "/favicon.ico", None),
    ],
)
async def test_a_request_draws_on_its_operations_class(method: str, path: str, expected: str | None) -> None:
    app = create_app(GatewaySettings(auth_secret="s"))  # type: ignore[call-arg]
    request = make_mocked_request(method, path, app=app)
    match = await app.router.resolve(request)  # what routing does before the middlewares run
    match.add_app(app)
    request._match_info = match
    assert route_class(request) == expected
