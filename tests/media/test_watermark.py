"""A watermark burned into every rung (and a chunk, and the preview): its region takes the overlay's colour,
blended at its opacity, and the rest of the picture is the unwatermarked encode's."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support import make_clip
from tests.watermark_pictures import COLOUR, PLACEMENT, assert_watermarked, frame, solid_png
from vodkit_transcoder import preview
from vodkit_transcoder.encode import EncodeJob, encode
from vodkit_transcoder.jobs import Chunk
from vodkit_transcoder.ladder import plan_ladder
from vodkit_transcoder.source import SourceInfo, inspect
from vodkit_transcoder.watermark import Overlay

pytestmark = pytest.mark.media


async def _nothing(_: float) -> None:
    return None


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("watermark") / "clip.mp4", seconds=2, width=1280, height=720)


@pytest.fixture(scope="module")
def mark(tmp_path_factory: pytest.TempPathFactory) -> Overlay:
    png = tmp_path_factory.mktemp("mark") / "watermark.png"
    png.write_bytes(solid_png(50, 50, (*COLOUR, 255)))
    return Overlay(png, PLACEMENT)


async def ladder(source: Path, out: Path, mark: Overlay | None, window: Chunk | None = None) -> EncodeJob:
    info = await inspect(source)
    job = EncodeJob(source, info, plan_ladder(info.height), 6, "ultrafast", out, window=window, watermark=mark)
    await encode(job, _nothing)
    return job


async def test_every_rung_carries_the_watermark_blended_at_its_opacity(
    source: Path, mark: Overlay, tmp_path: Path
) -> None:
    clean = await ladder(source, tmp_path / "clean", None)
    marked = await ladder(source, tmp_path / "marked", mark)
    assert [rung.name for rung in marked.rungs] == ["720p", "480p"]
    for rung in marked.rungs:
        width = marked.info.width_at(rung.height)
        assert_watermarked(
            frame(marked.output(rung), width, rung.height),
            frame(clean.output(rung), width, rung.height),
            width,
            rung.height,
        )


async def test_a_png_far_wider_than_high_is_scaled_into_the_frame(source: Path, tmp_path: Path) -> None:
    """Scaled to a height alone, 1024x1 at a scale of 1.0 was a 737,280-pixel-wide picture: ffmpeg refused it.
    (The gateway refuses such a PNG; the transcoder must not fail on one that reached the store.)"""
    png = tmp_path / "sliver.png"
    png.write_bytes(solid_png(1024, 1, (*COLOUR, 255)))
    wide = Overlay(png, PLACEMENT.model_copy(update={"scale": 1.0}))
    job = await ladder(source, tmp_path / "out", wide)
    for rung in job.rungs:
        assert job.output(rung).stat().st_size > 0


async def test_a_chunk_of_a_long_source_carries_it_too(source: Path, mark: Overlay, tmp_path: Path) -> None:
    window = Chunk(index=1, count=2, start_s=1.0, end_s=None, run=0)  # from 1 s: the input seeks, `trim` cuts
    clean = await ladder(source, tmp_path / "clean", None, window)
    marked = await ladder(source, tmp_path / "marked", mark, window)
    for rung in marked.rungs:
        width = marked.info.width_at(rung.height)
        at_s = 0.5  # into the chunk (reading it, ffmpeg counts from its first timestamp)
        pictures = [frame(job.output(rung), width, rung.height, at_s, "mpegts") for job in (marked, clean)]
        assert_watermarked(*pictures, width, rung.height)


async def test_the_preview_carries_it_too(source: Path, mark: Overlay, tmp_path: Path) -> None:
    info: SourceInfo = await inspect(source)
    for name, overlay in (("clean", None), ("marked", mark)):
        out = tmp_path / name
        out.mkdir()
        subprocess.run(preview.command(source, info, out, watermark=overlay), check=True)
    height = preview.preview_height(info)
    width = info.width_at(height)
    pictures = [
        frame(tmp_path / name / "seg_00000.ts", width, height, container="mpegts") for name in ("marked", "clean")
    ]
    assert_watermarked(*pictures, width, height)
