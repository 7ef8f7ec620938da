"""Every bad input gets a 4xx with `{"error": {"code", "message"}}`, and loses nothing already stored."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.e2e.conftest import Deployment
from tests.e2e.pipeline import Client, Reply

pytestmark = pytest.mark.e2e


def assert_error(reply: Reply, status: int, code: str) -> None:
    assert reply.status == status, reply.body
    assert isinstance(reply.body, dict)
    assert set(reply.body) == {"error"}
    assert reply.body["error"]["code"] == code
    assert isinstance(reply.body["error"]["message"], str)
    assert reply.body["error"]["message"]


@pytest.fixture
def alice(embedded: Deployment) -> Client:
    return Client(embedded.base_url, embedded.token("alice"))


@pytest.fixture
def bob(embedded: Deployment) -> Client:
    return Client(embedded.base_url, embedded.token("bob"))


@pytest.mark.parametrize("token", [None, "garbage", "eyJhbGciOiJIUzI1NiJ9.e30.sig"])
async def test_creating_a_video_needs_a_valid_user_token(alice: Client, token: str | None) -> None:
    assert_error(
        await alice.call("POST", "/api/videos", token, json={"filename": "a.mp4", "size": 1}), 401, "unauthorized"
    )


async def test_a_token_signed_with_another_secret_is_refused(alice: Client) -> None:
    from vodkit_shared.tokens import Tokens

    forged = Tokens("not-the-secret").user_token("alice")
    assert_error(
        await alice.call("POST", "/api/videos", forged, json={"filename": "a.mp4", "size": 1}), 401, "unauthorized"
    )


async def test_an_upload_token_is_not_a_user_token(alice: Client) -> None:
    created = await alice.create("a.mp4", 10)
    assert_error(
        await alice.call("GET", f"/api/videos/{created['videoId']}/status", created["uploadToken"]), 401, "unauthorized"
    )


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"filename": "a.mp4"},
        {"filename": "", "size": 10},
        {"filename": "a.mp4", "size": -1},
        {"filename": "a.mp4", "size": "big"},
        {"filename": "a.mp4", "size": 10, "extra": 1},
        {"filename": "a.mp4", "size": True},  # pydantic's lax mode took it as 1
        {"filename": "a.mp4", "size": "10"},
        {"filename": "a.mp4", "size": 10.5},  # 10.0 is an integer, as JSON Schema counts
        {"filename": 5, "size": 10},
        [],
        "x",
    ],
)
async def test_a_malformed_creation_body_is_400(alice: Client, body: Any) -> None:
    assert_error(await alice.call("POST", "/api/videos", alice.user_token, json=body), 400, "bad_request")


async def test_a_json_body_nested_too_deeply_is_400_not_500(alice: Client) -> None:
    """2 KB of nesting made json.loads raise RecursionError: a 500 on both routes that read a JSON body."""
    deep = b"[" * 1000 + b"]" * 1000
    headers = {"Content-Type": "application/json"}
    reply = await alice.call("POST", "/api/videos", alice.user_token, data=deep, headers=headers)
    assert_error(reply, 400, "bad_request")
    created = await alice.create("a.mp4", 10)
    reply = await alice.call("PATCH", f"/api/videos/{created['videoId']}", alice.user_token, data=deep, headers=headers)
    assert_error(reply, 400, "bad_request")


async def test_a_body_that_is_not_json_is_rejected(alice: Client) -> None:
    reply = await alice.call(
        "POST", "/api/videos", alice.user_token, data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_error(reply, 400, "bad_request")
    reply = await alice.call("POST", "/api/videos", alice.user_token, data=b"filename=a")
    assert_error(reply, 415, "unsupported_media_type")
    assert_error(await alice.call("POST", "/api/videos", alice.user_token), 415, "unsupported_media_type")


@pytest.mark.parametrize("video_id", ["00000000-0000-0000-0000-000000000000", "..", "x" * 300, "%00"])
async def test_an_unknown_video_is_404(alice: Client, video_id: str) -> None:
    assert_error(await alice.call("GET", f"/api/videos/{video_id}/status", alice.user_token), 404, "not_found")


async def test_another_users_video_is_403(alice: Client, bob: Client) -> None:
    created = await alice.create("a.mp4", 10)
    assert_error(await bob.call("GET", f"/api/videos/{created['videoId']}/status", bob.user_token), 403, "forbidden")
    assert_error(await bob.call("GET", f"/api/videos/{created['videoId']}", bob.user_token), 403, "forbidden")


async def test_chunks_need_the_upload_token_of_that_video(alice: Client) -> None:
    first, second = await alice.create("a.mp4", 10), await alice.create("b.mp4", 10)
    assert_error(await alice.send_chunk(alice.user_token, first["videoId"], 0, 1, b"x"), 401, "unauthorized")
    assert_error(await alice.send_chunk("", first["videoId"], 0, 1, b"x"), 401, "unauthorized")
    assert_error(await alice.send_chunk(second["uploadToken"], first["videoId"], 0, 1, b"x"), 403, "forbidden")


@pytest.mark.parametrize(
    ("index", "total", "overrides"),
    [
        (2, 2, {}),
        (5, 2, {}),
        (-1, 2, {}),
        (0, 0, {}),
        (0, 2, {"chunkIndex": "one"}),
        (0, 2, {"totalChunks": "1.5"}),
        (0, 2, {"totalChunks": "2.0"}),
        (0, 2, {"chunkIndex": "0_0"}),  # int() reads 0
        (0, 2, {"totalChunks": "+2"}),
        (0, 2, {"videoId": "../../etc"}),
    ],
)
async def test_malformed_chunk_fields_are_400(alice: Client, index: int, total: int, overrides: dict[str, str]) -> None:
    created = await alice.create("a.mp4", 10)
    reply = await alice.send_chunk(created["uploadToken"], created["videoId"], index, total, b"x", **overrides)
    assert_error(reply, 400, "bad_request")


async def test_a_request_without_a_chunk_or_not_multipart_is_400(alice: Client) -> None:
    created = await alice.create("a.mp4", 10)
    form = aiohttp.FormData()
    form.add_field("videoId", created["videoId"])
    form.add_field("chunkIndex", "0")
    form.add_field("totalChunks", "1")
    form.add_field("ignored", "x", filename="x.bin")
    assert_error(await alice.call("POST", "/api/videos/upload", created["uploadToken"], data=form), 400, "bad_request")
    reply = await alice.call("POST", "/api/videos/upload", created["uploadToken"], json={"chunk": "x"})
    assert_error(reply, 400, "bad_request")
    reply = await alice.call(
        "POST",
        "/api/videos/upload",
        created["uploadToken"],
        data=b"--x\r\ngarbage",
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert reply.status == 400


async def test_bad_chunks_lose_nothing_already_stored(alice: Client) -> None:
    created = await alice.create("a.mp4", 10)
    token, video_id = created["uploadToken"], created["videoId"]
    assert (await alice.send_chunk(token, video_id, 0, 3, b"first")).body["uploadedChunks"] == [0]
    assert_error(await alice.send_chunk(token, video_id, 1, 4, b"second"), 400, "bad_request")  # total changed
    assert_error(await alice.send_chunk(token, video_id, 3, 3, b"second"), 400, "bad_request")
    assert_error(await alice.send_chunk(token, video_id, 1, 3, b""), 400, "bad_request")
    reply = await alice.send_chunk(token, video_id, 2, 3, b"third")  # out of order is fine
    assert reply.body == {"status": "success", "uploadedChunks": [0, 2], "nextChunk": 1}
    reply = await alice.send_chunk(token, video_id, 0, 3, b"first")  # a re-sent chunk is harmless
    assert reply.body == {"status": "success", "uploadedChunks": [0, 2], "nextChunk": 1}
    status = await alice.call("GET", f"/api/videos/{video_id}/status", alice.user_token)
    assert status.body["status"] == "uploading"


async def test_a_playback_token_that_is_altered_or_misused_is_refused(alice: Client) -> None:
    created = await alice.create("a.mp4", 10)
    master = f"/videos/{created['videoId']}/master.m3u8"
    assert_error(await alice.call("GET", master), 403, "forbidden")
    assert_error(await alice.call("GET", master + "?token=not-a-token"), 403, "forbidden")
    assert_error(await alice.call("GET", f"{master}?token={created['uploadToken']}"), 403, "forbidden")
    assert_error(await alice.call("GET", "/videos/../../etc/passwd?token=x"), 404, "not_found")
    assert_error(await alice.call("GET", f"/videos/{created['videoId']}/720p/../../x.ts?token=x"), 404, "not_found")


async def test_unknown_routes_and_methods_answer_json(alice: Client) -> None:
    assert_error(await alice.call("GET", "/api/nothing"), 404, "not_found")
    assert_error(await alice.call("DELETE", "/api/videos"), 405, "method_not_allowed")
