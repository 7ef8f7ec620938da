"""Playback analytics through `vodkit up`: players report with the playback token, owners and admins read.

One video goes through the whole pipeline, so the reports carry the token of a real playback URL and
the fleet's funnel counts a completed video; a second one is only created (still uploading).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Deployment, _embedded
from tests.e2e.pipeline import Client, get
from tests.support import eventually

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    yield from _embedded(tmp_path_factory, "analytics", admin_users='["root"]')


@pytest.fixture(scope="module")
def watched(deployment: Deployment, clip: Path) -> dict[str, Any]:
    """A completed video of alice's, and one of hers still uploading."""

    async def upload() -> dict[str, Any]:
        client = Client(deployment.base_url, deployment.token("alice"))
        video_id = await client.upload(clip)
        status = await client.wait_until_settled(video_id)
        other = await client.create("later.mp4", 1000)
        return {"videoId": video_id, "otherId": other["videoId"], **status}

    status = asyncio.run(upload())
    assert status["status"] == "completed", status
    return status


def session(video_id: str, startup: float, quality: str, bitrate: int, stall: float) -> dict[str, Any]:
    now = time.time() - 30
    height = int(quality[:-1])
    level = {"quality": quality, "bitrate": bitrate, "height": height}
    return {
        "videoId": video_id,
        "sessionId": str(uuid.uuid4()),
        "viewerId": str(uuid.uuid4()),
        "seq": 0,
        "events": [
            {"type": "view", "at": now, "startup": startup, "firstSegment": startup / 2},
            {"type": "level", "at": now, **level, "switch": False},
            {"type": "buffer", "at": now + 2, "position": 2, "bufferHealth": 6, **level, "watch": 2},
            {"type": "stall", "at": now + 3, "position": 3, "duration": stall},
            {"type": "buffer", "at": now + 6, "position": 5, "bufferHealth": 4, **level, "watch": 3},
            {"type": "error", "at": now + 6, "fatal": False, "details": "bufferStalledError"},
        ],
    }


async def test_reports_add_up_for_the_owner_and_the_fleet(deployment: Deployment, watched: dict[str, Any]) -> None:
    alice = Client(deployment.base_url, deployment.token("alice"))
    video_id, token = watched["videoId"], watched["playbackUrl"].split("?token=")[1]
    reports = [session(video_id, 0.5, "720p", 2_500_000, 1.0), session(video_id, 1.5, "480p", 1_000_000, 0.5)]
    signed_in = await alice.call("POST", f"/api/playback-events?token={token}", alice.user_token, json=reports[0])
    assert (signed_in.status, signed_in.body) == (202, {"accepted": 6})
    anonymous = await alice.call("POST", f"/api/playback-events?token={token}", json=reports[1])
    assert anonymous.status == 202
    again = await alice.call("POST", f"/api/playback-events?token={token}", json=reports[1])
    assert again.status == 202  # sent twice (a beacon after a fetch): stored once
    other = await alice.call(
        "POST", f"/api/playback-events?token={token}", json={**reports[0], "videoId": watched["otherId"]}
    )
    assert other.status == 403  # this token is for the other video

    path = f"/api/videos/{video_id}/analytics"

    async def both_views() -> bool:
        reply = await alice.call("GET", path, alice.user_token)
        return reply.status == 200 and reply.body["summary"]["views"] == 2

    await eventually(both_views, timeout=20)
    body = (await alice.call("GET", path, alice.user_token)).body
    today = dt.datetime.now(dt.UTC).date()
    assert (body["videoId"], body["to"], body["from"]) == (
        video_id,
        today.isoformat(),
        (today - dt.timedelta(days=6)).isoformat(),
    )
    summary = body["summary"]
    assert summary["uniqueViewers"] == 2
    assert summary["watchSeconds"] == 10.0
    assert (summary["stallCount"], summary["stallSeconds"], summary["rebufferingRatio"]) == (2, 1.5, 0.15)
    assert (summary["startupP50"], summary["startupP95"], summary["errorsPerView"]) == (0.5, 1.5, 1.0)
    assert [(q["quality"], q["plays"], q["avgBitrate"], q["watchSeconds"]) for q in body["qualities"]] == [
        ("720p", 1, 2_500_000.0, 5.0),
        ("480p", 1, 1_000_000.0, 5.0),
    ]
    assert body["bufferByPosition"] == {
        "bucketSeconds": 10,
        "buckets": [{"position": 0, "avgBufferHealth": 5.0, "samples": 4}],
    }
    assert [b["count"] for b in body["startupHistogram"]] == [0, 1, 0, 1, 0, 0, 0, 0]
    assert [d["day"] for d in body["days"]] == [today.isoformat()]
    assert body["days"][0]["source"] == "samples"
    assert body["videos"] == [{"videoId": video_id, "avgBufferHealth": 5.0, "totalViews": 2}]
    assert body["funnel"] is None

    bob = await alice.call("GET", path, deployment.token("bob"))
    assert bob.status == 403
    assert (await alice.call("GET", f"{path}?from=2026-02-01&to=2026-01-01", alice.user_token)).status == 400
    assert (await alice.call("GET", f"{path}?from=2020-01-01&to=2026-01-01", alice.user_token)).status == 400
    old = await alice.call("GET", f"{path}?from=2020-01-01&to=2020-01-31", alice.user_token)
    assert old.status == 200
    assert old.body["summary"]["views"] == 0

    assert (await alice.call("GET", "/api/analytics", alice.user_token)).status == 403
    fleet = await alice.call("GET", "/api/analytics", deployment.token("root"))
    assert fleet.status == 200, fleet.body
    assert fleet.body["videoId"] is None
    assert fleet.body["summary"]["views"] == 2
    funnel = fleet.body["funnel"]
    assert (funnel["created"], funnel["uploaded"], funnel["completed"], funnel["failed"]) == (2, 1, 1, 0)
    assert funnel["uploading"] == 1

    _, metrics, _ = await get(f"{deployment.base_url}/metrics")
    exported = metrics.decode()
    # counted as batches are accepted: the batch sent twice counts twice here (and once in the store)
    assert "vodkit_playback_views_total 3.0" in exported
    assert "vodkit_playback_startup_duration_seconds_count 3.0" in exported
    assert 'vodkit_playback_startup_duration_seconds_bucket{le="0.5"} 1.0' in exported
    assert 'vodkit_playback_stall_duration_seconds_bucket{le="1.0"} 3.0' in exported
    assert "vodkit_playback_watched_seconds_total 15.0" in exported
