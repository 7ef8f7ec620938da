"""The job console, through `vodkit up`: an admin sees what failed, retries it to the end, and
replays a dead letter; other users get 403."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import Deployment
from tests.e2e.pipeline import VODKIT, Client
from tests.support import eventually

pytestmark = pytest.mark.e2e


def admin_token(env: dict[str, str]) -> str:
    argv = [*VODKIT, "token", "--user", "ops", "--admin"]
    return subprocess.run(argv, env=env, check=True, capture_output=True, text=True).stdout.strip()


def jobs_cli(env: dict[str, str], base_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [*VODKIT, "jobs", "--url", base_url, *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)


async def test_a_failed_video_is_listed_retried_and_completes(embedded: Deployment, clip: Path) -> None:
    alice = Client(embedded.base_url, embedded.token("alice"))
    admin = admin_token(embedded.env)
    not_a_video = os.urandom(3 * 256 * 1024)
    created = await alice.create("broken.mp4", len(not_a_video))
    video_id, size = created["videoId"], 256 * 1024
    for index in range(3):
        chunk = not_a_video[index * size : (index + 1) * size]
        reply = await alice.send_chunk(created["uploadToken"], video_id, index, 3, chunk)
        assert reply.status == 200, reply.body
    failed = await alice.wait_until_settled(video_id)
    assert failed["status"] == "failed"

    refused = await alice.call("GET", "/api/admin/jobs", alice.user_token)
    assert refused.status == 403
    assert refused.body["error"]["code"] == "forbidden"
    listed = await alice.call("GET", "/api/admin/jobs?state=failed", admin)
    assert listed.status == 200, listed.body
    [job] = [job for job in listed.body["jobs"] if job["videoId"] == video_id]
    assert (job["state"], job["failedStage"], job["retryable"], job["retries"]) == ("failed", "transcoder", True, 0)
    assert job["reason"] == failed["error"]
    assert job["attempts"] == 1  # not a video: refused at its first try, no retries spent

    # the operator fixes what was wrong (here: the original itself), then retries
    original = Path(embedded.env["VODKIT_DATA_DIR"]) / "objects" / "originals" / video_id / "source"
    original.write_bytes(clip.read_bytes())
    retried = await alice.call("POST", f"/api/admin/videos/{video_id}/retry", admin)
    assert retried.status == 202, retried.body
    assert retried.body == {"videoId": video_id, "status": "processing", "retries": 1}
    status = await alice.call("GET", f"/api/videos/{video_id}/status", alice.user_token)
    assert status.body["status"] == "processing"
    assert status.body["error"] is None
    done = await alice.wait_until_settled(video_id)
    assert done["status"] == "completed", done
    assert done["playbackUrl"]
    assert set(done["qualities"].values()) == {"ready"}

    again = await alice.call("POST", f"/api/admin/videos/{video_id}/retry", admin)
    assert again.status == 409
    assert "only a failed video" in again.body["error"]["message"]
    listed = await alice.call("GET", "/api/admin/jobs", admin)
    assert video_id not in {job["videoId"] for job in listed.body["jobs"]}


async def test_a_dead_letter_is_listed_and_replaying_it_changes_nothing_handled(embedded: Deployment) -> None:
    alice = Client(embedded.base_url, embedded.token("alice"))
    admin = admin_token(embedded.env)
    body = b"twelve bytes"
    wrong = hashlib.sha256(b"something else").hexdigest()
    created = await alice.call(
        "POST", "/api/videos", alice.user_token, json={"filename": "a.mp4", "size": len(body), "sha256": wrong}
    )
    video_id = created.body["videoId"]
    reply = await alice.send_chunk(created.body["uploadToken"], video_id, 0, 1, body)
    assert reply.status == 200, reply.body
    failed = await alice.wait_until_settled(video_id)
    assert failed["status"] == "failed"
    assert "SHA-256" in failed["error"]

    letters: list[dict[str, object]] = []

    async def dead_lettered() -> bool:
        listed = await alice.call("GET", "/api/admin/dead-letters?service=upload", admin)
        assert listed.status == 200, listed.body
        letters[:] = [d for d in listed.body["deadLetters"] if d["videoId"] == video_id]
        return bool(letters)

    await eventually(dead_lettered)
    [letter] = letters
    assert letter["type"] == "chunk.received"
    assert "SHA-256" in str(letter["error"])

    refused = await alice.call("POST", f"/api/admin/videos/{video_id}/retry", admin)
    assert refused.status == 409
    assert "upload the file again" in refused.body["error"]["message"]
    assert (await alice.call("POST", "/api/admin/dead-letters/nobody/replay", admin)).status == 404
    assert (await alice.call("POST", "/api/admin/dead-letters/upload/replay", alice.user_token)).status == 403

    replayed = jobs_cli(embedded.env, embedded.base_url, "replay", "upload")
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout.strip().startswith("upload: ")
    assert "replayed" in replayed.stdout

    async def handled() -> bool:  # the upload is over, its session gone: the chunk is acked, nothing done
        return not await dead_lettered()

    await eventually(handled)
    after = await alice.call("GET", f"/api/videos/{video_id}/status", alice.user_token)
    assert after.body["status"] == "failed"
    assert after.body["error"] == failed["error"]

    listed = jobs_cli(embedded.env, embedded.base_url, "list", "--state", "failed")
    assert listed.returncode == 0, listed.stderr
    assert any(line.startswith(video_id) and " upload: " in line for line in listed.stdout.splitlines())
    nope = jobs_cli(embedded.env, embedded.base_url, "--token", embedded.token("alice"), "list")
    assert nope.returncode == 1
    assert nope.stderr.startswith("vodkit jobs: 403")
