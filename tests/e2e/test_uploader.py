"""`vodkit upload` as a user runs it: a fresh upload, one resumed from the server's state, and one
waited for under rate limits a once-a-second poller would run into within seconds."""

from __future__ import annotations

import asyncio
import hashlib
import math
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Deployment, _embedded
from tests.e2e.pipeline import VODKIT, Client

pytestmark = pytest.mark.e2e


async def run_cli(deployment: Deployment, *args: str) -> tuple[str, str]:
    process = await asyncio.create_subprocess_exec(
        *VODKIT,
        "upload",
        *args,
        "--url",
        deployment.base_url,
        env=deployment.env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 180)
    assert process.returncode == 0, err.decode()[-2000:]
    return out.decode(), err.decode()


async def test_upload_wait_prints_the_video_id_then_the_playback_url(embedded: Deployment, clip: Path) -> None:
    out, err = await run_cli(embedded, str(clip), "--wait", "--token", embedded.token("alice"))
    video_id, url = out.split()
    assert url.startswith(f"{embedded.base_url}/videos/{video_id}/master.m3u8?token=")
    assert "100.0%" in err  # the progress bar reached the end
    status = await Client(embedded.base_url, embedded.token("alice")).wait_until_settled(video_id)
    assert status["status"] == "completed"


async def test_an_interrupted_upload_is_resumed_from_the_servers_state(embedded: Deployment, clip: Path) -> None:
    alice = Client(embedded.base_url, embedded.token("alice"))
    data = clip.read_bytes()
    reply = await alice.call(
        "POST",
        "/api/videos",
        alice.user_token,
        json={"filename": clip.name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()},
    )
    created = reply.body
    size = int(created["chunkSize"])
    total = math.ceil(len(data) / size)
    for index in (0, 2):  # the first attempt got this far, out of order, then the laptop closed
        await alice.send_chunk(
            created["uploadToken"], created["videoId"], index, total, data[index * size : (index + 1) * size]
        )

    out, err = await run_cli(embedded, str(clip), "--resume", created["videoId"], "--wait", "--token", alice.user_token)

    assert out.split()[0] == created["videoId"]
    assert f"resuming: 2 of {total} chunks already stored" in err
    assert (await alice.wait_until_settled(created["videoId"]))["status"] == "completed"


@pytest.fixture(scope="module")
def tight_limits(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """`vodkit up` allowing each user 6 reads and 5 writes per 15 minutes."""
    yield from _embedded(tmp_path_factory, "tight-limits", rate_limit_read="6", rate_limit_api="5")


async def test_upload_wait_follows_the_live_list_instead_of_polling(tight_limits: Deployment, clip: Path) -> None:
    out, err = await run_cli(tight_limits, str(clip), "--wait", "--token", tight_limits.token("alice"))
    video_id, url = out.split()
    assert url.startswith(f"{tight_limits.base_url}/videos/{video_id}/master.m3u8?token=")
    assert "processing" in err  # progress came from the stream, in a handful of reads


def test_the_cli_explains_a_missing_file(tmp_path: Path) -> None:
    import subprocess

    result = subprocess.run(
        [sys.executable, "-m", "vodkit_cli.main", "upload", str(tmp_path / "nope.mp4")], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "no such file" in result.stderr
