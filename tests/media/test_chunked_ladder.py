"""A long source's ladder in chunks (chunks.py): the stitched renditions are the single pass's, seam for seam."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support import eventually, make_clip
from vodkit_shared.bus import RetryPolicy
from vodkit_shared.bus.memory import MemoryBus
from vodkit_shared.metadata import open_metadata
from vodkit_shared.storage import open_storage
from vodkit_transcoder.hwaccel import Accel
from vodkit_transcoder.jobs import JobQueue
from vodkit_transcoder.runner import JobRunner
from vodkit_transcoder.settings import TranscoderSettings
from vodkit_transcoder.worker import Transcoder

pytestmark = pytest.mark.media
SECONDS = 26  # 6 s segments, 6 s chunks: 4 chunks and a last one of 8 s (a 2 s remainder joins it)
RATE = "30000/1001"  # boundaries fall between frames: a chunk must still start at the right one


def frames(path: Path, stream: str = "v") -> list[dict[str, Any]]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", stream, "-show_entries", "frame=pts_time,key_frame",
         "-of", "json", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return sorted(json.loads(out)["frames"], key=lambda f: float(f["pts_time"]))


def ssim_per_frame(rendition: Path, source: Path, width: int, height: int, stats: Path) -> list[float]:
    graph = f"[1:v]scale={width}:{height}[ref];[0:v][ref]ssim=stats_file={stats}"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(rendition), "-i", str(source), "-lavfi", graph, "-f", "null", "-"],
        check=True,
    )
    return [float(line.split("All:")[1].split()[0]) for line in stats.read_text().splitlines()]


async def ladder(
    tmp_path: Path,
    name: str,
    source: Path,
    chunk_s: float,
    chunks: int = 0,
    rung: str = "360p",
    preset: str = "veryfast",
) -> Path:
    """v1's ladder from `source` by a worker with its own queue; one rung's local copy (the others beside it)."""
    storage = await open_storage(f"file://{tmp_path / name / 'objects'}")
    await storage.put_file("originals/v1/source", source)
    metadata = await open_metadata(f"sqlite:///{tmp_path / name / 'jobs.db'}")
    jobs = JobQueue(metadata.collection("transcode_jobs"), 30, RetryPolicy(3, 0.1))
    bus = MemoryBus(f"chunks-{name}-{tmp_path.name}")
    settings = TranscoderSettings(
        work_dir=tmp_path, x264_preset=preset, measure_quality=False, preview=False,
        chunk_seconds=chunk_s, chunk_min_seconds=0, job_poll_s=0.1,
    )  # fmt: skip
    transcoder = Transcoder(storage, bus, settings, Accel("libx264", "test"), threads=2, jobs=jobs)
    runner = JobRunner(jobs, transcoder.transcode, transcoder.give_up, slots=1, lease_s=30, poll_s=0.1)
    transcoder.chunks.run_claimed_with(runner.attempt)
    running = asyncio.create_task(runner.run())
    try:
        await jobs.enqueue("v1", "originals/v1/source", "c1")

        async def done() -> bool:
            job = await jobs.get("v1")
            return job is not None and job.state == "done"

        await eventually(done, timeout=3600)
        parent = await jobs.get("v1")
        assert parent is not None
        parts = await jobs.chunks_of(parent)
        assert all(p.state == "done" and (p.attempts, p.crashes) == (0, 0) for p in parts)
        assert len(parts) == chunks
        assert await storage.keys("renditions/v1/chunks/") == []  # the parts are gone once stitched
        for key in await storage.keys("renditions/v1/"):
            await storage.get_file(key, tmp_path / f"{name}-{key.rsplit('/', 1)[-1]}")
        return tmp_path / f"{name}-{rung}.mp4"
    finally:
        running.cancel()
        await runner.stop()
        await bus.close()
        await metadata.close()


async def test_a_chunked_ladder_has_the_single_passs_frames_keyframes_and_quality(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "source.mp4", seconds=SECONDS, width=640, height=360, extra=["-r", RATE])
    single = await ladder(tmp_path, "single", source, chunk_s=0)
    chunked = await ladder(tmp_path, "chunked", source, chunk_s=6, chunks=4)

    one, many = frames(single), frames(chunked)
    times = [float(f["pts_time"]) for f in many]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(many) == len(one)  # no frame lost or repeated at a seam
    assert max(gaps) - min(gaps) < 1e-4  # no gap, no overlap: one frame's duration throughout
    assert times == pytest.approx([float(f["pts_time"]) for f in one], abs=1e-4)
    keys = [round(float(f["pts_time"]), 3) for f in many if f["key_frame"]]
    assert keys == [round(float(f["pts_time"]), 3) for f in one if f["key_frame"]]  # where segments start
    assert len(keys) == 5

    audio_one, audio_many = frames(single, "a"), frames(chunked, "a")
    assert float(audio_many[0]["pts_time"]) == pytest.approx(float(audio_one[0]["pts_time"]), abs=1e-3)
    assert len(audio_many) == pytest.approx(len(audio_one), abs=1)

    # SSIM of the frames around each seam (half a second each side), against the single pass's
    a = ssim_per_frame(single, source, 640, 360, tmp_path / "single.ssim")
    b = ssim_per_frame(chunked, source, 640, 360, tmp_path / "chunked.ssim")
    rate = 30000 / 1001
    for seam in (6, 12, 18):
        window = slice(round(seam * rate) - 15, round(seam * rate) + 15)
        assert abs(sum(a[window]) / 30 - sum(b[window]) / 30) < 0.01, seam


@pytest.mark.parametrize("audio", ["late", "early"])
async def test_the_audio_keeps_its_offset_from_the_video(tmp_path: Path, audio: str) -> None:
    """A source whose audio starts half a second after (or before) its video, as a camera's may, keeps that gap."""
    video = make_clip(tmp_path / "video.mp4", seconds=14, width=640, height=360, audio=False)
    source = tmp_path / f"{audio}-audio.mp4"
    tone = ["-f", "lavfi", "-i", "sine=frequency=440:duration=13"]
    inputs = (
        ["-itsoffset", "0.5", "-i", str(video), *tone]
        if audio == "early"
        else ["-i", str(video), "-itsoffset", "0.5", *tone]
    )
    subprocess.run(
        ["ffmpeg", "-v", "error", *inputs, "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", str(source)],
        check=True,
    )
    single = await ladder(tmp_path, "single", source, chunk_s=0)
    chunked = await ladder(tmp_path, "chunked", source, chunk_s=6, chunks=2)

    def offset(path: Path) -> float:
        """The audio's start after the first picture's."""
        return float(frames(path, "a")[0]["pts_time"]) - float(frames(path)[0]["pts_time"])

    assert offset(source) == pytest.approx(0.5 if audio == "late" else -0.5, abs=0.03)
    assert offset(chunked) == pytest.approx(offset(source), abs=0.03)  # within the AAC encoder's priming
    if audio == "late":  # the same as the single pass's (which, for early audio, repeats its first picture)
        assert offset(chunked) == pytest.approx(offset(single), abs=0.005)


@pytest.mark.parametrize("container", ["mp4", "mpegts"])
async def test_a_source_whose_clock_starts_late_is_cut_at_the_same_frames(tmp_path: Path, container: str) -> None:
    """A source whose first timestamp is 1.4 s: `-ss` counts from there and `trim` from 0, and each seam
    lost 0.4 s of frames. MPEG-TS (which starts there) seeks by bytes, landing past the time asked for,
    and lost more: such a source is not chunked."""
    mp4 = make_clip(tmp_path / "clip.mp4", seconds=14, width=640, height=360)
    source = tmp_path / f"upload.{container}"
    late = ["-output_ts_offset", "1.4"] if container == "mp4" else []
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(mp4), "-c", "copy", *late, "-f", container, str(source)], check=True
    )
    assert float(frames(source)[0]["pts_time"]) == pytest.approx(1.4, abs=0.1)
    single = await ladder(tmp_path, "single", source, chunk_s=0)
    chunked = await ladder(tmp_path, "chunked", source, chunk_s=6, chunks=2 if container == "mp4" else 0)

    many = frames(chunked)
    times = [float(f["pts_time"]) for f in many]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) - min(gaps) < 1e-4
    if container == "mp4":
        assert len(many) == len(frames(source))  # every frame once: none lost at the seam
    else:  # not chunked: the same single pass both times
        assert len(many) == len(frames(single))
