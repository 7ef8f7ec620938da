"""The progress a client polls rises with the encode, not in a jump at the end.

The measure of what is really encoded is independent of ffmpeg's own report: the rendition's bytes
on disk when each progress value arrives, as a share of its final size (the MP4 is written as it is
encoded; +faststart moves only the small index to the front at the end). The clip is longer than one
storyboard sheet takes to fill, so a sheet that holds the rungs back would show.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support import make_clip
from vodkit_transcoder.encode import EncodeJob, encode
from vodkit_transcoder.ladder import plan_ladder, segment_seconds
from vodkit_transcoder.source import inspect

pytestmark = pytest.mark.media


async def test_progress_follows_the_share_of_the_source_encoded(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "clip.mp4", seconds=45, width=640, height=480)
    info = await inspect(source)
    out = tmp_path / "out"
    job = EncodeJob(source, info, plan_ladder(info.height), segment_seconds(info.duration_s), "veryfast", out)
    rendition = job.output(job.rungs[0])
    samples: list[tuple[float, int]] = []

    async def record(percent: float) -> None:
        samples.append((percent, rendition.stat().st_size if rendition.exists() else 0))

    await encode(job, record)
    final = rendition.stat().st_size
    reported = [percent for percent, _ in samples]
    encoded = [100 * size / final for _, size in samples]
    assert reported == sorted(reported)
    assert reported[-1] == pytest.approx(100, abs=0.5)
    assert len([p for p in reported if 10 < p < 90]) >= 3, f"progress did not rise with the encode: {reported}"
    worst = max(abs(p - e) for p, e in zip(reported, encoded, strict=True))
    assert worst <= 10, f"reported {[round(p) for p in reported]} while encoded {[round(e) for e in encoded]}"
    # the storyboard is as it was: 23 thumbnails (one per 2 s) on one 5x5 sheet of 120x90 cells
    assert sorted(path.name for path in job.storyboard_dir.iterdir()) == ["sprite_000.jpg"]
    sheet = ffprobe_size(job.storyboard_dir / "sprite_000.jpg")
    assert sheet == (5 * job.storyboard.thumb_width, 5 * 90)
    assert not job.thumbnails.exists()


def ffprobe_size(path: Path) -> tuple[int, int]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=width,height", "-of", "csv=p=0", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    width, height = out.strip().split(",")
    return int(width), int(height)
