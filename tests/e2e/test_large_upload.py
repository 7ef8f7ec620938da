"""The seed's large-upload test, made practical: gigabytes over loopback with flat server memory.

The client generates the file as it goes (nothing is stored twice on the test's side), declares its
SHA-256, and sends 16 MiB chunks four at a time. The assembled original must have that SHA-256 (a
mismatch fails the video with a SHA-256 reason; a match lets it reach the transcoder, which fails it
as not a video), and the server's peak resident memory must stay under 200 MiB.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from tests.e2e.conftest import Deployment
from tests.e2e.pipeline import Client
from tests.support import eventually

pytestmark = pytest.mark.e2e
MiB, GiB = 1024**2, 1024**3
CHUNK = 16 * MiB
PEAK_RSS_LIMIT = 200 * MiB


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def generated(size: int) -> tuple[list[int], str]:
    """Chunk seeds and the whole stream's SHA-256; chunk i is always the same bytes."""
    digest = hashlib.sha256()
    seeds = list(range((size + CHUNK - 1) // CHUNK))
    for seed in seeds:
        digest.update(chunk_bytes(seed, size))
    return seeds, digest.hexdigest()


def chunk_bytes(seed: int, size: int) -> bytes:
    length = min(CHUNK, size - seed * CHUNK)
    block = hashlib.sha256(seed.to_bytes(8, "big")).digest() * (MiB // 32)  # 1 MiB, distinct per chunk
    return (block * (length // MiB + 1))[:length]


@pytest.mark.parametrize(
    "size",
    [
        pytest.param(2 * GiB + 12345, id="2GiB"),
        pytest.param(15 * GiB, id="15GiB", marks=pytest.mark.slow),
    ],
)
async def test_gigabytes_upload_with_flat_memory_and_a_matching_sha256(
    embedded_big_chunks: Deployment, size: int
) -> None:
    client = Client(embedded_big_chunks.base_url, embedded_big_chunks.token("alice"))
    seeds, sha256 = await asyncio.to_thread(generated, size)
    reply = await client.call(
        "POST", "/api/videos", client.user_token, json={"filename": "big.bin", "size": size, "sha256": sha256}
    )
    assert reply.status == 201, reply.body
    created = reply.body
    assert created["chunkSize"] == CHUNK
    queue: asyncio.Queue[int] = asyncio.Queue()
    for seed in seeds:
        queue.put_nowait(seed)

    async def sender() -> None:
        while not queue.empty():
            seed = queue.get_nowait()
            data = await asyncio.to_thread(chunk_bytes, seed, size)
            sent = await client.send_chunk(created["uploadToken"], created["videoId"], seed, len(seeds), data)
            assert sent.status == 200, sent.body

    await asyncio.gather(*(sender() for _ in range(4)))
    status = await client.wait_until_settled(created["videoId"], timeout=600)

    assert status["status"] == "failed"
    assert "not a video" in status["error"], status["error"]  # assembled, verified, then refused as media
    assert embedded_big_chunks.pid is not None
    peak = peak_rss(embedded_big_chunks.pid)
    print(f"server peak RSS after {size / GiB:.1f} GiB: {peak / MiB:.0f} MiB")
    assert peak < PEAK_RSS_LIMIT, f"peak RSS {peak / MiB:.0f} MiB"
    chunks = Path(embedded_big_chunks.env["VODKIT_DATA_DIR"]) / "objects" / "uploads" / created["videoId"]

    def chunks_gone() -> bool:  # deleted after assembly, which the refusal (0.1 s) may now beat
        return not chunks.exists() or not [p for p in chunks.rglob("*") if p.is_file()]

    await eventually(chunks_gone, timeout=60, interval=0.5)
