"""Webhooks through a running vodkit, to a real receiver process that verifies every signature.

Alice and Bob each register a webhook on the receiver (tests/e2e/webhook_receiver.py, its own
process on loopback), then upload a file that is no video: it is assembled and fails, and Alice
deletes hers. The receiver answers 500 to the first delivery of each event and 200 after, so each
event is retried once, with the same `Vodkit-Event-Id` and the same body. Alice hears of her video
only, Bob of his. The figures land in test-artifacts/webhooks.json.

Then: a gateway on its defaults refuses URLs into its own network, and one over RabbitMQ delivers
through the `gateway-webhooks` queues.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.e2e.conftest import Deployment, _embedded
from tests.e2e.pipeline import Client
from tests.support import AMQP_URL, free_port, need_rabbitmq
from vodkit_gateway.app import create_app
from vodkit_gateway.settings import GatewaySettings
from vodkit_gateway.webhook_delivery import signature
from vodkit_shared.bus import open_bus
from vodkit_shared.events import Envelope, VideoFailed
from vodkit_shared.service import start_site
from vodkit_shared.tokens import Tokens

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).parents[2]
ARTIFACTS = ROOT / "test-artifacts"
EVENTS = ["chunk.received", "video.assembled", "video.failed", "video.deleted"]
NOT_A_VIDEO = os.urandom(600 * 1024)  # three 256 KiB chunks of noise: assembled, then failed by the transcoder


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    yield from _embedded(
        tmp_path_factory,
        "webhooks",
        webhook_allow_private="true",  # the receiver is on loopback
        webhook_retry_base_s="0.5",
        webhook_interval_s="0.2",
    )


class ReceiverProcess:
    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.secrets, self.log = root / "secrets.json", root / "requests.jsonl"
        self.secrets.write_text("{}")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.e2e.webhook_receiver",
                "--port",
                str(self.port),
                "--secrets",
                str(self.secrets),
                "--log",
                str(self.log),
            ],
            cwd=ROOT,
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def requests(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()] if self.log.exists() else []

    def wait_listening(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "the receiver exited"
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("the receiver did not listen")


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[ReceiverProcess]:
    started = ReceiverProcess(tmp_path)
    try:
        started.wait_listening()
        yield started
    finally:
        started.process.terminate()
        started.process.wait(timeout=10)


async def upload(client: Client, data: bytes) -> str:
    created = await client.create("not-a-video.mp4", len(data))
    size, video_id = int(created["chunkSize"]), str(created["videoId"])
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    for index, chunk in enumerate(chunks):
        reply = await client.send_chunk(created["uploadToken"], video_id, index, len(chunks), chunk)
        assert reply.status == 200, reply.body
    return video_id


async def register(client: Client, url: str) -> dict[str, Any]:
    reply = await client.call("POST", "/api/webhooks", client.user_token, json={"url": url, "events": EVENTS})
    assert reply.status == 201, reply.body
    assert set(reply.body) == {"id", "url", "events", "secret", "createdAt"}
    assert (reply.body["url"], reply.body["events"]) == (url, sorted(EVENTS))
    return dict(reply.body)


async def deliveries(client: Client, webhook_id: str) -> list[dict[str, Any]]:
    reply = await client.call("GET", f"/api/webhooks/{webhook_id}/deliveries", client.user_token)
    assert reply.status == 200, reply.body
    return list(reply.body["deliveries"])


async def until(check: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, "not within the time allowed"
        await asyncio.sleep(0.2)


async def test_signed_deliveries_are_retried_after_a_500_with_a_stable_event_id_to_their_owner_only(
    deployment: Deployment, receiver: ReceiverProcess
) -> None:
    alice = Client(deployment.base_url, deployment.token("alice"))
    bob = Client(deployment.base_url, deployment.token("bob"))
    alices, bobs = await register(alice, receiver.url("/alice")), await register(bob, receiver.url("/bob"))
    receiver.secrets.write_text(json.dumps({"/alice": alices["secret"], "/bob": bobs["secret"]}))
    listed = await alice.call("GET", "/api/webhooks", alice.user_token)
    assert [hook["id"] for hook in listed.body["webhooks"]] == [alices["id"]]  # bob's is not listed
    assert "secret" not in listed.body["webhooks"][0]
    assert (await bob.call("GET", f"/api/webhooks/{alices['id']}", bob.user_token)).status == 404

    mine, theirs = await upload(alice, NOT_A_VIDEO), await upload(bob, NOT_A_VIDEO)
    assert (await alice.wait_until_settled(mine, timeout=60))["status"] == "failed"
    assert (await bob.wait_until_settled(theirs, timeout=60))["status"] == "failed"
    assert (await alice.call("DELETE", f"/api/videos/{mine}", alice.user_token)).status == 204

    expected = Counter({"chunk.received": 3, "video.assembled": 1, "video.failed": 1, "video.deleted": 1})

    async def all_delivered() -> list[dict[str, Any]] | None:
        log = await deliveries(alice, alices["id"])
        types = Counter(d["eventType"] for d in log)
        return log if types == expected and all(d["state"] == "delivered" for d in log) else None

    log = await until(all_delivered)
    assert all(
        (d["attempts"], d["lastStatus"], d["responseExcerpt"], d["videoId"]) == (2, 200, "ok", mine) for d in log
    )
    requests = receiver.requests()
    to_alice = [r for r in requests if r["path"] == "/alice"]
    assert all(r["signatureValid"] and r["contentType"] == "application/json" for r in requests)
    assert {r["videoId"] for r in to_alice} == {mine}  # bob's video never reached alice's webhook
    by_event: dict[str, list[dict[str, Any]]] = {}
    for r in to_alice:
        assert r["eventIdHeader"] == r["envelopeId"]  # the de-duplication id is the envelope's id
        by_event.setdefault(r["eventIdHeader"], []).append(r)
    assert set(by_event) == {d["eventId"] for d in log}
    for attempts in by_event.values():  # each event: a 500, then the same id and bytes again, answered 200
        assert [(r["attempt"], r["answered"]) for r in attempts] == [(1, 500), (2, 200)]
        assert len({r["bodySha256"] for r in attempts}) == 1

    bobs_log = await until(lambda: _delivered(bob, bobs["id"], 5))  # his upload, no deletion
    assert {d["videoId"] for d in bobs_log} == {theirs}

    first = log[-1]
    reply = await alice.call(
        "POST", f"/api/webhooks/{alices['id']}/deliveries/{first['id']}/redeliver", alice.user_token
    )
    assert (reply.status, reply.body["state"]) == (202, "pending")
    again = await until(lambda: _one(alice, alices["id"], first["id"], attempts=3))
    assert (again["state"], again["lastStatus"]) == ("delivered", 200)
    redelivered = [r for r in receiver.requests() if r["eventIdHeader"] == first["eventId"]]
    assert [r["answered"] for r in redelivered] == [500, 200, 200]  # the receiver knows it by its id

    assert (await alice.call("DELETE", f"/api/webhooks/{alices['id']}", alice.user_token)).status == 204
    assert (await alice.call("GET", f"/api/webhooks/{alices['id']}", alice.user_token)).status == 404

    requests = receiver.requests()
    figures = {
        "events": len(by_event),
        "first_attempts_answered_500": sum(r["attempt"] == 1 and r["answered"] == 500 for r in to_alice),
        "retries_answered_200": sum(r["attempt"] == 2 and r["answered"] == 200 for r in to_alice),
        "redeliveries": len(redelivered) - 2,
        "requests_received": len(requests),
        "signatures_checked": len(requests),
        "signatures_valid": sum(r["signatureValid"] for r in requests),
        "events_of_bobs_video_at_alice": sum(r["videoId"] == theirs for r in to_alice),
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "webhooks.json").write_text(json.dumps(figures, indent=2) + "\n")


async def _delivered(client: Client, webhook_id: str, count: int) -> list[dict[str, Any]] | None:
    log = await deliveries(client, webhook_id)
    return log if len(log) == count and all(d["state"] == "delivered" for d in log) else None


async def _one(client: Client, webhook_id: str, delivery_id: str, attempts: int) -> dict[str, Any] | None:
    found = [d for d in await deliveries(client, webhook_id) if d["id"] == delivery_id]
    return found[0] if found and found[0]["attempts"] == attempts and found[0]["state"] == "delivered" else None


@pytest.fixture
async def guarded(tmp_path: Path) -> AsyncIterator[Client]:
    """A gateway on its defaults: private addresses refused; at most two webhooks a user."""
    settings = GatewaySettings(  # type: ignore[call-arg]
        auth_secret="s", data_dir=tmp_path, bus_url=f"memory://webhooks-{tmp_path.name}", webhook_max_per_user=2
    )
    runner, port = await start_site(create_app(settings), "127.0.0.1", 0)
    yield Client(f"http://127.0.0.1:{port}", Tokens("s").user_token("alice"))
    await runner.cleanup()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.8/hook",
        "http://[::1]/hook",
        "http://0.0.0.0/hook",
        "ftp://example.com/hook",
    ],
)
async def test_by_default_a_webhook_may_not_point_at_the_servers_own_network(guarded: Client, url: str) -> None:
    reply = await guarded.call("POST", "/api/webhooks", guarded.user_token, json={"url": url, "events": EVENTS})
    assert (reply.status, reply.body["error"]["code"]) == (400, "bad_request"), reply.body
    assert reply.body["error"]["message"].startswith("url:")


async def test_unknown_event_types_and_too_many_webhooks_are_refused(guarded: Client) -> None:
    body = {"url": "https://93.184.216.34/hook", "events": ["package.done", "video.exploded"]}
    reply = await guarded.call("POST", "/api/webhooks", guarded.user_token, json=body)
    assert reply.status == 400
    assert "video.exploded" in reply.body["error"]["message"]
    body["events"] = ["package.done"]
    for _ in range(2):
        assert (await guarded.call("POST", "/api/webhooks", guarded.user_token, json=body)).status == 201
    reply = await guarded.call("POST", "/api/webhooks", guarded.user_token, json=body)
    assert (reply.status, reply.body["error"]["code"]) == (409, "conflict")


async def test_over_rabbitmq_the_fan_out_has_queues_of_its_own_and_delivers(tmp_path: Path) -> None:
    """The `gateway-webhooks` consumer on RabbitMQ: an event published by another process reaches the receiver."""
    need_rabbitmq()
    heard: list[tuple[str, str, bytes]] = []

    async def hook(request: web.Request) -> web.Response:
        heard.append((request.headers["Vodkit-Event-Id"], request.headers["Vodkit-Signature"], await request.read()))
        return web.Response(text="ok")

    receiver = web.Application()
    receiver.router.add_post("/hook", hook)
    receiver_runner, receiver_port = await start_site(receiver, "127.0.0.1", 0)
    exchange = f"webhooks-{uuid.uuid4().hex[:10]}"
    bus_url = f"{AMQP_URL}?queue_expiry_s=600"
    settings = GatewaySettings(  # type: ignore[call-arg]
        auth_secret="s",
        data_dir=tmp_path,
        bus_url=bus_url,
        bus_exchange=exchange,
        webhook_allow_private=True,
        webhook_interval_s=0.2,
    )
    runner, port = await start_site(create_app(settings), "127.0.0.1", 0)
    publisher = await open_bus(bus_url, exchange)
    try:
        alice = Client(f"http://127.0.0.1:{port}", Tokens("s").user_token("alice"))
        created = await register(alice, f"http://127.0.0.1:{receiver_port}/hook")
        video_id = (await alice.create("a.mp4", 10))["videoId"]
        failed = Envelope.wrap(VideoFailed(stage="transcoder", reason="not a video"), video_id=video_id)
        await publisher.publish(failed)
        await until(lambda: _delivered(alice, created["id"], 1), timeout=30)
        [(event_id, signed, body)] = heard
        assert (event_id, Envelope.from_json(body)) == (str(failed.id), failed)
        timestamp = int(signed.split(",")[0].removeprefix("t="))
        assert signed == signature(created["secret"], timestamp, body)
    finally:
        await publisher.close()
        await runner.cleanup()
        await receiver_runner.cleanup()
