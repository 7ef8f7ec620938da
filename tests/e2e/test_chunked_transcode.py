"""A long video's ladder in chunks across two transcoder processes (over RabbitMQ, S3 and a shared store):
both take chunks, the stitched renditions play with no seam, and a transcoder killed mid-video costs
only the chunk it was on."""

from __future__ import annotations

import itertools
import json
import re
import signal
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import Deployment
from tests.e2e.pipeline import Client, check_playback
from tests.support import eventually, make_clip
from vodkit_shared.bus import RetryPolicy
from vodkit_shared.metadata import open_metadata
from vodkit_shared.storage import open_storage
from vodkit_transcoder.jobs import JobQueue, TranscodeJob

pytestmark = pytest.mark.e2e
HEIGHTS = {"720p": 720, "480p": 480}


def worker_of(log: Path) -> str:
    """The name a transcoder process's leases carry, from its start-up line."""
    found = re.search(r'"msg": "taking transcode jobs".*?"worker": "([\w-]+)"', log.read_text())
    assert found, log.read_text()[-2000:]
    return found.group(1)


def urls(deployment: Deployment) -> tuple[str, str]:
    """Its object store's and its metadata store's URLs (embedded: under its data dir)."""
    env = deployment.env
    embedded = Path(env.get("VODKIT_DATA_DIR", "."))
    storage = env.get("VODKIT_STORAGE_URL") or f"file://{(embedded / 'objects').resolve()}"
    return storage, env.get("VODKIT_DB_URL") or f"sqlite:///{(embedded / 'vodkit.db').resolve()}"


def chunks_encoded(log: Path) -> int:
    return log.read_text().count('"chunk encoded"')


def frame_times(path: Path) -> list[float]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "frame=pts_time", "-of", "json", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return sorted(float(frame["pts_time"]) for frame in json.loads(out)["frames"])


async def chunk_jobs(deployment: Deployment, video_id: str) -> list[TranscodeJob]:
    metadata = await open_metadata(urls(deployment)[1])
    try:
        jobs = JobQueue(metadata.collection("transcode_jobs"), 6, RetryPolicy())
        parent = await jobs.get(video_id)
        return await jobs.chunks_of(parent) if parent else []
    finally:
        await metadata.close()


async def check_seamless(deployment: Deployment, video_id: str, tmp_path: Path, seconds: float) -> None:
    storage = await open_storage(urls(deployment)[0])
    try:
        rendition = tmp_path / f"{video_id}.mp4"
        await storage.get_file(f"renditions/{video_id}/720p.mp4", rendition)
        assert await storage.keys(f"renditions/{video_id}/chunks/") == []  # no part outlives the stitch
    finally:
        await storage.close()
    times = frame_times(rendition)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) == round(seconds * 30)  # every frame once
    assert max(gaps) - min(gaps) < 1e-4  # no gap or overlap at any seam


async def test_the_embedded_default_stitches_a_chunked_video_too(embedded_chunked: Deployment, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "long.mp4", seconds=20, width=1280, height=720)
    client = Client(embedded_chunked.base_url, embedded_chunked.token("alice"))
    video_id = await client.upload(clip)

    status = await client.wait_until_settled(video_id, timeout=300)

    assert status["status"] == "completed", status
    assert status["qualities"] == {"720p": "ready", "480p": "ready"}
    assert chunks_encoded(embedded_chunked.logs[0]) == 3
    assert [(p.state, p.attempts, p.crashes) for p in await chunk_jobs(embedded_chunked, video_id)] == [
        ("done", 0, 0)
    ] * 3
    await check_seamless(embedded_chunked, video_id, tmp_path, 20)
    await check_playback(status["playbackUrl"], clip_seconds=20.0, heights=HEIGHTS)


async def test_two_transcoders_share_a_chunked_video_and_it_plays_seamlessly(
    distributed_chunked: Deployment, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "long.mp4", seconds=30, width=1280, height=720)
    client = Client(distributed_chunked.base_url, distributed_chunked.token("alice"))
    video_id = await client.upload(clip)

    status = await client.wait_until_settled(video_id, timeout=400)

    assert status["status"] == "completed", status
    parts = await chunk_jobs(distributed_chunked, video_id)
    assert [(p.state, p.attempts, p.crashes) for p in parts] == [("done", 0, 0)] * 5
    logs = {name: distributed_chunked.logs[i + 1] for i, name in enumerate(distributed_chunked.processes)}
    encoded = {name: chunks_encoded(logs[name]) for name in ("transcoder", "transcoder-2")}
    assert sum(encoded.values()) == 5
    assert min(encoded.values()) >= 1, encoded  # both took chunks
    await check_seamless(distributed_chunked, video_id, tmp_path, 30)
    await check_playback(status["playbackUrl"], clip_seconds=30.0, heights=HEIGHTS)


async def test_a_transcoder_killed_mid_video_costs_only_the_chunk_it_was_on(
    distributed_chunked: Deployment, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "longer.mp4", seconds=48, width=1280, height=720)
    client = Client(distributed_chunked.base_url, distributed_chunked.token("alice"))
    logs = {name: distributed_chunked.logs[i + 1] for i, name in enumerate(distributed_chunked.processes)}
    victim = distributed_chunked.processes["transcoder-2"]
    victim_worker = worker_of(logs["transcoder-2"])
    before = {name: chunks_encoded(logs[name]) for name in ("transcoder", "transcoder-2")}
    video_id = await client.upload(clip)

    async def victim_mid_chunk() -> bool:
        parts = await chunk_jobs(distributed_chunked, video_id)
        done = sum(p.state == "done" for p in parts)
        held = any(p.state == "running" and p.worker == victim_worker for p in parts)
        return done >= 1 and held

    await eventually(victim_mid_chunk, timeout=300, interval=0.2)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    status = await client.wait_until_settled(video_id, timeout=400)

    assert status["status"] == "completed", status
    parts = await chunk_jobs(distributed_chunked, video_id)
    assert len(parts) == 8
    assert all(p.state == "done" and p.attempts == 0 for p in parts)
    assert sum(p.crashes for p in parts) == 1  # the chunk the victim held, and no other, was taken again
    encoded = sum(chunks_encoded(logs[name]) - before[name] for name in before)
    assert encoded == 8  # every chunk finished once: none done was encoded again
    await check_seamless(distributed_chunked, video_id, tmp_path, 48)
    await check_playback(status["playbackUrl"], clip_seconds=48.0, heights=HEIGHTS)
