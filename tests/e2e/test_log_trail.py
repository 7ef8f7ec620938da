"""One filter on a video's id follows it through all six services' log lines, under one correlation id."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Deployment, _embedded
from tests.e2e.pipeline import Client, fetch

pytestmark = pytest.mark.e2e
SIX = {"gateway", "upload", "transcoder", "packager", "storage-tiering", "cdn-purge"}


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """`vodkit up` with file logs on, as `VODKIT_LOG_DIR` turns them on."""
    yield from _embedded(tmp_path_factory, "log-trail", log_dir=str(tmp_path_factory.mktemp("log-trail-files")))


def json_lines(path: Path) -> list[dict[str, Any]]:
    entries = []
    for line in path.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):  # `vodkit up`'s own words are not JSON
            entries.append(json.loads(line))
    return entries


def trail(path: Path, video_id: str) -> list[dict[str, Any]]:
    return [entry for entry in json_lines(path) if entry.get("videoId") == video_id]


async def handlers_of(path: Path, video_id: str, timeout: float = 30) -> set[str]:
    """The consumers (six services, and others such as the gateway's webhooks) that logged handling an
    event of the video, once all six services are among them or `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while not (seen := {e["service"] for e in trail(path, video_id) if e["msg"] == "event handled"}) >= SIX:
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    return seen


async def test_a_videos_lines_come_from_every_service_under_one_correlation_id(traced: Deployment, clip: Path) -> None:
    client = Client(traced.base_url, traced.token(f"trail-{uuid.uuid4().hex[:6]}"))
    video = await client.upload(clip)
    status = await client.wait_until_settled(video)
    assert status["status"] == "completed", status
    playback_token = status["playbackUrl"].split("?token=")[1]
    assert (await fetch(status["playbackUrl"]))[0] == 200
    assert (await client.call("DELETE", f"/api/videos/{video}", client.user_token)).status == 204
    stdout = traced.logs[0]

    assert await handlers_of(stdout, video) >= SIX  # storage-tiering hears of the video only once it is deleted
    lines = trail(stdout, video)
    assert {entry["service"] for entry in lines} >= SIX
    assert {entry["correlationId"] for entry in lines} == {video}
    assert all(entry.get("requestId") for entry in lines)
    handled = [entry for entry in lines if entry["msg"] == "event handled"]
    assert all(entry["eventId"] == entry["requestId"] and entry["eventType"] for entry in handled)
    by_hand = {e["service"] for e in lines if e["msg"] != "event handled" and e["logger"] != "vodkit.access"}
    assert by_hand >= {"upload", "transcoder", "packager", "cdn-purge"}  # their own lines, the context added

    access = [entry for entry in json_lines(stdout) if entry.get("logger") == "vodkit.access"]
    posts = [e for e in access if e["service"] == "gateway" and e.get("videoId") == video and e["method"] == "POST"]
    assert {e["route"] for e in posts} == {"/api/videos", "/api/videos/upload"}  # the create names what it made
    chunks = [e for e in posts if e["route"] == "/api/videos/upload"]
    assert len(chunks) >= 3
    forwarded = {  # the upload service reads the video from the token: its lines name it too
        e["requestId"]
        for e in access
        if e["service"] == "upload" and e.get("videoId") == video and e["method"] == "POST"
    }
    assert {e["requestId"] for e in chunks} <= forwarded  # the gateway passed each chunk's request id on
    assert all(e["status"] == 200 and e["bytes"] > 0 and e["durationMs"] >= 0 for e in chunks)

    written = stdout.read_text()
    for secret in (client.user_token, playback_token):
        assert secret not in written
    assert "?token=" not in written

    combined = Path(traced.env["VODKIT_LOG_DIR"]) / "combined.log"
    assert await handlers_of(combined, video) >= SIX
    assert playback_token not in combined.read_text()
