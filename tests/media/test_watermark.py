"""A watermark burned into every rung (and a chunk, and the preview): its region takes the overlay's colour,
blended at its opacity, and the rest of the picture is the unwatermarked encode's."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.pngs import solid_png
from tests.support import make_clip
from vodkit_shared.watermarks import Placement
from vodkit_transcoder import preview
from vodkit_transcoder.encode import EncodeJob, encode
from vodkit_transcoder.jobs import Chunk
from vodkit_transcoder.ladder import plan_ladder
from vodkit_transcoder.source import SourceInfo, inspect
from vodkit_transcoder.watermark import Overlay

pytestmark = pytest.mark.media
COLOUR = (255, 0, 0)  # pure red: far from anything testsrc2 draws in that corner on average
OPACITY = 0.6
PLACEMENT = Placement(position="bottom-right", margin=0.05, scale=0.2, opacity=OPACITY)
FRAME_AT_S = 1.0
INSET = 4  # pixels left out along the watermark's edges: scaling and 4:2:0 chroma blur them


async def _nothing(_: float) -> None:
    return None


def frame(media: Path, width: int, height: int, at_s: float = FRAME_AT_S, container: str = "mp4") -> bytes:
    """One decoded picture as RGB24 bytes."""
    argv = ["ffmpeg", "-v", "error", "-f", container, "-i", str(media), "-ss", str(at_s), "-frames:v", "1"]
    argv += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    data = subprocess.run(argv, check=True, capture_output=True).stdout
    assert len(data) == width * height * 3
    return data


def mark_box(width: int, height: int) -> tuple[int, int, int, int]:
    """Where the square watermark lies on a frame of this size (bottom right), shrunk by INSET: x0, y0, x1, y1."""
    side, margin = PLACEMENT.scale * height, PLACEMENT.margin * height
    x1, y1 = width - margin, height - margin
    return int(x1 - side) + INSET, int(y1 - side) + INSET, int(x1) - INSET, int(y1) - INSET


def compare(marked: bytes, clean: bytes, width: int, height: int) -> tuple[float, float, float]:
    """Mean absolute differences: of the watermark's region from the clean frame, of that region from the
    expected blend (the overlay's colour at its opacity over the clean frame), of the rest from the clean frame."""
    x0, y0, x1, y1 = mark_box(width, height)
    inside_changed = inside_off = 0.0
    count = 0
    for y in range(y0, y1):
        for x in range(x0, x1):
            at = (y * width + x) * 3
            for c in range(3):
                expected = OPACITY * COLOUR[c] + (1 - OPACITY) * clean[at + c]
                inside_changed += abs(marked[at + c] - clean[at + c])
                inside_off += abs(marked[at + c] - expected)
                count += 1
    # the rest: every pixel but a band around the watermark (scaling spreads its edge a little)
    band = mark_box(width, height)
    outside, others = 0.0, 0
    for y in range(0, height, 2):
        for x in range(0, width, 2):
            if band[0] - 2 * INSET <= x < band[2] + 2 * INSET and band[1] - 2 * INSET <= y < band[3] + 2 * INSET:
                continue
            at = (y * width + x) * 3
            outside += sum(abs(marked[at + c] - clean[at + c]) for c in range(3))
            others += 3
    return inside_changed / count, inside_off / count, outside / others


def assert_watermarked(marked: bytes, clean: bytes, width: int, height: int) -> None:
    changed, off, rest = compare(marked, clean, width, height)
    assert changed > 40, f"the watermark's region hardly changed ({changed:.1f}) at {height}p"
    assert off < 8, f"the region is not the blended colour (off by {off:.1f}) at {height}p"
    assert rest < 3, f"the rest of the picture changed ({rest:.1f}) at {height}p"


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
