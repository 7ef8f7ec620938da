"""tus 1.0 at /api/uploads/: an off-the-shelf client (tuspy) end to end, and each rule of the protocol."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tusclient import client as tus_client

from tests.e2e.conftest import Deployment
from tests.e2e.pipeline import Client, check_playback

pytestmark = pytest.mark.e2e
TUS = {"Tus-Resumable": "1.0.0"}


async def tus_call(
    deployment: Deployment,
    method: str,
    path: str,
    token: str | None,
    headers: dict[str, str],
    data: bytes | None = None,
) -> tuple[int, dict[str, str], Any]:
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    url = path if path.startswith("http") else deployment.base_url + path
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, url, headers={**auth, **headers}, data=io.BytesIO(data) if data else None) as response,
    ):
        body = await response.read()
        return response.status, dict(response.headers), body


async def create(deployment: Deployment, token: str, length: int, body: bytes | None = None) -> str:
    headers = {
        **TUS,
        "Upload-Length": str(length),
        "Upload-Metadata": f"filename {base64.b64encode(b'a.mp4').decode()}",
    }
    if body is not None:
        headers["Content-Type"] = "application/offset+octet-stream"
    status, response_headers, _ = await tus_call(deployment, "POST", "/api/uploads/", token, headers, body)
    assert status == 201
    assert response_headers["Tus-Resumable"] == "1.0.0"
    return response_headers["Location"]


def patch_headers(offset: int, data: bytes, checksum: bytes | None = None) -> dict[str, str]:
    digest = checksum if checksum is not None else hashlib.sha1(data).digest()
    return {
        **TUS,
        "Content-Type": "application/offset+octet-stream",
        "Upload-Offset": str(offset),
        "Upload-Checksum": f"sha1 {base64.b64encode(digest).decode()}",
    }


async def test_tuspy_uploads_a_video_that_then_plays(embedded: Deployment, clip: Path) -> None:
    token = embedded.token("alice")
    client = tus_client.TusClient(embedded.base_url + "/api/uploads/", headers={"Authorization": f"Bearer {token}"})
    with clip.open("rb") as stream:  # tuspy leaves a file it opens itself open
        uploader = client.uploader(
            file_stream=stream, chunk_size=256 * 1024, metadata={"filename": clip.name}, upload_checksum=True
        )
        await asyncio.to_thread(uploader.upload)
    video_id = uploader.url.rsplit("/", 1)[1]
    alice = Client(embedded.base_url, token)
    status = await alice.wait_until_settled(video_id)
    assert status["status"] == "completed", status
    await check_playback(status["playbackUrl"], clip_seconds=8.0, heights={"720p": 720, "480p": 480})
    details = (await alice.call("GET", f"/api/videos/{video_id}", token)).body
    assert details["filename"] == clip.name


async def test_options_advertises_the_extensions(embedded: Deployment) -> None:
    status, headers, _ = await tus_call(embedded, "OPTIONS", "/api/uploads/", None, {})
    assert status == 204
    assert headers["Tus-Version"] == "1.0.0"
    assert set(headers["Tus-Extension"].split(",")) == {
        "creation",
        "creation-with-upload",
        "checksum",
        "termination",
        "expiration",
    }
    assert headers["Tus-Checksum-Algorithm"] == "sha1,sha256"


async def test_creation_with_upload_then_head_and_expiry(embedded: Deployment) -> None:
    token = embedded.token("alice")
    location = await create(embedded, token, 10, body=b"12345")
    status, headers, _ = await tus_call(embedded, "HEAD", location, token, TUS)
    assert (status, headers["Upload-Offset"], headers["Upload-Length"]) == (200, "5", "10")
    assert headers["Cache-Control"] == "no-store"
    assert headers["Upload-Expires"].endswith("GMT")


async def test_a_wrong_checksum_is_460_and_stores_nothing(embedded: Deployment) -> None:
    token = embedded.token("alice")
    location = await create(embedded, token, 10)
    status, _, _ = await tus_call(embedded, "PATCH", location, token, patch_headers(0, b"12345", b"x" * 20), b"12345")
    assert status == 460
    status, headers, _ = await tus_call(embedded, "HEAD", location, token, TUS)
    assert headers["Upload-Offset"] == "0"
    status, headers, _ = await tus_call(embedded, "PATCH", location, token, patch_headers(0, b"12345"), b"12345")
    assert (status, headers["Upload-Offset"]) == (204, "5")


@pytest.mark.parametrize("algorithm", ["sha1", "sha256"])
async def test_a_correct_checksum_is_kept_and_a_wrong_one_is_460(embedded: Deployment, algorithm: str) -> None:
    token, data = embedded.token("alice"), b"12345"
    location = await create(embedded, token, 10)

    def headers(digest: bytes) -> dict[str, str]:
        return {**patch_headers(0, data), "Upload-Checksum": f"{algorithm} {base64.b64encode(digest).decode()}"}

    wrong = hashlib.new(algorithm, b"other").digest()
    assert (await tus_call(embedded, "PATCH", location, token, headers(wrong), data))[0] == 460
    status, response_headers, _ = await tus_call(
        embedded, "PATCH", location, token, headers(hashlib.new(algorithm, data).digest()), data
    )
    assert (status, response_headers["Upload-Offset"]) == (204, "5")


async def test_of_patches_racing_for_one_offset_exactly_one_is_kept(embedded: Deployment) -> None:
    """tus 1.0: a PATCH whose offset is no longer the upload's is a 409, even when it raced the winner."""
    token = embedded.token("alice")
    location = await create(embedded, token, 6)
    bodies = [bytes([65 + i]) * 6 for i in range(6)]
    answers = await asyncio.gather(
        *(tus_call(embedded, "PATCH", location, token, patch_headers(0, body), body) for body in bodies)
    )
    statuses = sorted(status for status, _, _ in answers)
    assert statuses == [204, 409, 409, 409, 409, 409]
    _, headers, _ = await tus_call(embedded, "HEAD", location, token, TUS)
    assert headers["Upload-Offset"] == "6"


async def test_termination_after_the_upload_is_complete_is_refused(embedded: Deployment, clip: Path) -> None:
    """Deleting a processing video this way would bypass DELETE /api/videos/{id}'s 409 and orphan its objects."""
    token, data = embedded.token("alice"), clip.read_bytes()
    location = await create(embedded, token, len(data), body=data)
    status, _, body = await tus_call(embedded, "DELETE", location, token, TUS)
    assert status == 409, body
    video_id = location.rsplit("/", 1)[1]
    assert (await Client(embedded.base_url, token).wait_until_settled(video_id))["status"] == "completed"


async def test_a_patch_at_the_wrong_offset_is_409(embedded: Deployment) -> None:
    token = embedded.token("alice")
    location = await create(embedded, token, 10, body=b"12345")
    status, _, body = await tus_call(embedded, "PATCH", location, token, patch_headers(3, b"abc"), b"abc")
    assert status == 409
    assert b"the upload is at 5" in body


async def test_termination_removes_the_upload(embedded: Deployment) -> None:
    token = embedded.token("alice")
    location = await create(embedded, token, 10, body=b"12345")
    status, _, _ = await tus_call(embedded, "DELETE", location, token, TUS)
    assert status == 204
    status, _, _ = await tus_call(embedded, "HEAD", location, token, TUS)
    assert status == 404
    video_id = location.rsplit("/", 1)[1]
    alice = Client(embedded.base_url, token)
    assert (await alice.wait_until_settled(video_id, timeout=30))["status"] == "failed"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, 400),
        ({"Tus-Resumable": "0.2.2"}, 412),
        ({**TUS}, 400),
        ({**TUS, "Upload-Length": "-1"}, 400),
        ({**TUS, "Upload-Length": "x"}, 400),
        ({**TUS, "Upload-Length": str(60 * 1024**3)}, 413),
        ({**TUS, "Upload-Defer-Length": "1"}, 400),
        ({**TUS, "Upload-Length": "5", "Upload-Metadata": "filename ***"}, 400),
        ({**TUS, "Upload-Length": "1_000"}, 400),  # int() reads 1000
        ({**TUS, "Upload-Length": "+10"}, 400),
        ({**TUS, "Upload-Length": "5", "Upload-Metadata": "filename YWJj="}, 400),  # padding after a whole group
        ({**TUS, "Upload-Length": "5", "Upload-Metadata": "filename YR=="}, 400),  # bits set in the padding
    ],
)
async def test_bad_creation_requests_are_refused(embedded: Deployment, headers: dict[str, str], expected: int) -> None:
    status, response_headers, _ = await tus_call(embedded, "POST", "/api/uploads/", embedded.token("alice"), headers)
    assert status == expected
    assert response_headers["Tus-Resumable"] == "1.0.0"


async def test_uploads_belong_to_their_owner(embedded: Deployment) -> None:
    location = await create(embedded, embedded.token("alice"), 10)
    assert (await tus_call(embedded, "HEAD", location, embedded.token("bob"), TUS))[0] == 403
    assert (await tus_call(embedded, "HEAD", location, None, TUS))[0] == 401
    assert (await tus_call(embedded, "POST", "/api/uploads/", None, {**TUS, "Upload-Length": "5"}))[0] == 401


async def cut_off(
    deployment: Deployment, method: str, path: str, headers: dict[str, str], sent: bytes, length: int
) -> None:
    """Send a request whose body stops after `sent` of its `length` bytes, then drop the connection."""
    host, port = deployment.base_url.removeprefix("http://").split(":")
    _reader, writer = await asyncio.open_connection(host, int(port))
    head = "".join(f"{k}: {v}\r\n" for k, v in {**headers, "Content-Length": str(length), "Host": host}.items())
    writer.write(f"{method} {path} HTTP/1.1\r\n{head}\r\n".encode() + sent)
    await writer.drain()
    await asyncio.sleep(0.3)
    writer.close()
    await writer.wait_closed()
    await asyncio.sleep(0.3)


async def test_a_patch_cut_off_midway_stores_nothing_and_the_upload_resumes(embedded: Deployment) -> None:
    token = embedded.token("alice")
    location = await create(embedded, token, 10)
    path = "/" + location.split("/", 3)[3]
    await cut_off(
        embedded, "PATCH", path, {**patch_headers(0, b"1234567890"), "Authorization": f"Bearer {token}"}, b"12345", 10
    )
    status, headers, _ = await tus_call(embedded, "HEAD", location, token, TUS)
    assert headers["Upload-Offset"] == "0"
    status, headers, _ = await tus_call(
        embedded, "PATCH", location, token, patch_headers(0, b"1234567890"), b"1234567890"
    )
    assert (status, headers["Upload-Offset"]) == (204, "10")


async def test_a_chunk_cut_off_midway_stores_nothing_and_the_upload_resumes(embedded: Deployment) -> None:
    alice = Client(embedded.base_url, embedded.token("alice"))
    created = await alice.create("a.mp4", 20)
    boundary = "cutoff"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="videoId"\r\n\r\n{created["videoId"]}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="chunkIndex"\r\n\r\n0\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="totalChunks"\r\n\r\n1\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="chunk"; filename="c"\r\n\r\n'
    ).encode()
    headers = {
        "Authorization": f"Bearer {created['uploadToken']}",
        "Content-Type": f"multipart/form-data; boundary={boundary}",
    }
    await cut_off(embedded, "POST", "/api/videos/upload", headers, body + b"0123456789", len(body) + 2000)
    state = await alice.call("GET", f"/api/videos/{created['videoId']}/upload", alice.user_token)
    assert state.body["uploadedChunks"] == []
    reply = await alice.send_chunk(created["uploadToken"], created["videoId"], 0, 1, b"x" * 20)
    assert reply.body["nextChunk"] is None


async def test_requests_cut_off_midway_are_counted_and_logged_as_disconnects(embedded: Deployment) -> None:
    """An aborted upload is the client's doing: no `unhandled error` traceback, no 5xx in /metrics."""
    await test_a_patch_cut_off_midway_stores_nothing_and_the_upload_resumes(embedded)
    await test_a_chunk_cut_off_midway_stores_nothing_and_the_upload_resumes(embedded)
    _, _, metrics = await tus_call(embedded, "GET", "/metrics", None, {})
    server_errors = [
        line
        for line in metrics.decode().splitlines()
        if line.startswith("vodkit_http_requests_total{") and 'status="5' in line and not line.endswith(" 0.0")
    ]
    assert server_errors == []
    assert 'status="499"' in metrics.decode()
    log = embedded.logs[0].read_text()
    assert "unhandled error" not in log
    assert "client disconnected" in log
