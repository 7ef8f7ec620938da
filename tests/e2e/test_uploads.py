"""Uploads that lose nothing: checksums, resumable state, limits, declared size and SHA-256, renewal."""

from __future__ import annotations

import asyncio
import hashlib
import math
from pathlib import Path

import pytest

from tests.e2e.conftest import Deployment
from tests.e2e.pipeline import Client
from tests.e2e.test_bad_input import assert_error

pytestmark = pytest.mark.e2e


@pytest.fixture
def alice(embedded: Deployment) -> Client:
    return Client(embedded.base_url, embedded.token("alice"))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_a_chunk_whose_checksum_does_not_match_is_refused_and_not_stored(alice: Client) -> None:
    created = await alice.create("a.mp4", 10)
    token, video_id = created["uploadToken"], created["videoId"]
    reply = await alice.send_chunk(token, video_id, 0, 2, b"hello", checksum=sha(b"HELLO"))
    assert_error(reply, 400, "checksum_mismatch")
    assert sha(b"hello") in reply.body["error"]["message"]
    state = await alice.call("GET", f"/api/videos/{video_id}/upload", token)
    assert state.body["uploadedChunks"] == []
    reply = await alice.send_chunk(token, video_id, 0, 2, b"hello", checksum=sha(b"hello").upper())
    assert reply.body["uploadedChunks"] == [0]


async def test_upload_state_lets_a_client_resume(alice: Client, embedded: Deployment) -> None:
    created = await alice.create("a.mp4", 10)
    token, video_id = created["uploadToken"], created["videoId"]
    path = f"/api/videos/{video_id}/upload"
    assert (await alice.call("GET", path, token)).body == {
        "uploadedChunks": [],
        "nextChunk": 0,
        "totalChunks": None,
        "assembled": False,
    }
    await alice.send_chunk(token, video_id, 1, 3, b"b")
    await alice.send_chunk(token, video_id, 0, 3, b"a")
    for credential in (token, alice.user_token):  # the upload token, or the owner's own token
        assert (await alice.call("GET", path, credential)).body == {
            "uploadedChunks": [0, 1],
            "nextChunk": 2,
            "totalChunks": 3,
            "assembled": False,
        }
    assert_error(await alice.call("GET", path, embedded.token("bob")), 403, "forbidden")
    assert_error(await alice.call("GET", path), 401, "unauthorized")
    other = await alice.create("b.mp4", 10)
    assert_error(await alice.call("GET", path, other["uploadToken"]), 403, "forbidden")


async def test_sizes_beyond_the_limits_are_413_with_the_limit(alice: Client) -> None:
    reply = await alice.call("POST", "/api/videos", alice.user_token, json={"filename": "a.mp4", "size": 60 * 1024**3})
    assert_error(reply, 413, "too_large")
    assert str(50 * 1024**3) in reply.body["error"]["message"]
    created = await alice.create("a.mp4", 8)
    token, video_id = created["uploadToken"], created["videoId"]
    assert (await alice.send_chunk(token, video_id, 0, 2, b"12345")).status == 200
    reply = await alice.send_chunk(token, video_id, 1, 2, b"6789")
    assert_error(reply, 413, "too_large")
    assert "declared size of 8 bytes" in reply.body["error"]["message"]
    reply = await alice.send_chunk(token, video_id, 0, 2, b"1234")  # a corrected chunk replaces the first
    assert (await alice.send_chunk(token, video_id, 1, 2, b"5678")).body["nextChunk"] is None


async def send_all(client: Client, data: bytes, declared_sha256: str | None = None, parallel: bool = True) -> str:
    reply = await client.call(
        "POST",
        "/api/videos",
        client.user_token,
        json={"filename": "clip.mp4", "size": len(data), **({"sha256": declared_sha256} if declared_sha256 else {})},
    )
    assert reply.status == 201, reply.body
    created = reply.body
    size = int(created["chunkSize"])
    total = math.ceil(len(data) / size)
    order = list(reversed(range(total)))  # out of order, and all at once
    sends = [
        client.send_chunk(
            created["uploadToken"],
            created["videoId"],
            i,
            total,
            data[i * size : (i + 1) * size],
            checksum=sha(data[i * size : (i + 1) * size]),
        )
        for i in order
    ]
    if parallel:
        replies = await asyncio.gather(*sends)
    else:
        replies = [await send for send in sends]
    assert all(r.status == 200 for r in replies), [r.body for r in replies]
    return str(created["videoId"])


async def test_out_of_order_parallel_chunks_with_a_declared_sha256_assemble(alice: Client, clip: Path) -> None:
    data = clip.read_bytes()
    video_id = await send_all(alice, data, declared_sha256=sha(data))
    status = await alice.wait_until_settled(video_id)
    assert status["status"] == "completed", status


async def test_a_file_whose_sha256_is_not_the_declared_one_fails_with_the_reason(alice: Client, clip: Path) -> None:
    data = clip.read_bytes()
    video_id = await send_all(alice, data, declared_sha256=sha(b"something else"))
    status = await alice.wait_until_settled(video_id, timeout=30)
    assert status["status"] == "failed"
    assert "SHA-256" in status["error"]
    assert sha(data) in status["error"]


async def test_an_upload_token_can_be_renewed_while_uploading_only(alice: Client, clip: Path) -> None:
    created = await alice.create("a.mp4", 3)
    renewed = await alice.call("POST", f"/api/videos/{created['videoId']}/upload-token", alice.user_token)
    assert renewed.status == 200
    assert (await alice.send_chunk(renewed.body["uploadToken"], created["videoId"], 0, 1, b"abc")).status == 200
    await alice.wait_until_settled(created["videoId"], timeout=30)  # 3 bytes: not a video, it fails
    again = await alice.call("POST", f"/api/videos/{created['videoId']}/upload-token", alice.user_token)
    assert_error(again, 409, "conflict")
