"""Watermarks: the PNG checked in pure Python before anything decodes it, and burned in once, before the split."""

from __future__ import annotations

import struct
import threading
import zlib
from pathlib import Path
from typing import Any

import pytest

from tests.watermark_pictures import chunk, solid_png
from vodkit_shared.metadata.port import MetadataStore
from vodkit_shared.watermarks import (
    COLLECTION,
    Placement,
    Watermark,
    WatermarkRefused,
    Watermarks,
    check_png,
    video_key,
)
from vodkit_transcoder import preview, watermark
from vodkit_transcoder.encode import EncodeJob, command
from vodkit_transcoder.jobs import Chunk
from vodkit_transcoder.ladder import plan_ladder
from vodkit_transcoder.source import SourceInfo
from vodkit_transcoder.watermark import Overlay, fetch_overlay

pytestmark = pytest.mark.unit
MARK = Overlay(Path("/work/watermark.png"), Placement(position="top-left", margin=0.05, scale=0.2, opacity=0.5))
SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_with(header: tuple[int, int, int, int], rows: bytes, *extra: bytes, after: bytes = b"") -> bytes:
    width, height, depth, colour = header
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0))
    body = b"".join(extra) + chunk(b"IDAT", zlib.compress(rows))
    return SIGNATURE + ihdr + body + chunk(b"IEND", b"") + after


def test_a_png_with_an_alpha_channel_is_accepted_with_its_sides() -> None:
    info = check_png(solid_png(40, 30))
    assert (info.width, info.height) == (40, 30)


def test_a_png_sixteen_times_as_wide_as_high_or_as_high_as_wide_is_accepted() -> None:
    assert (check_png(solid_png(64, 4)).width, check_png(solid_png(4, 64)).height) == (64, 64)


def test_a_palette_png_with_a_trns_chunk_has_transparency() -> None:
    rows = b"\x00\x00\x00" * 2
    data = png_with((2, 2, 8, 3), rows, chunk(b"PLTE", b"\xff\x00\x00"), chunk(b"tRNS", b"\x80"))
    assert check_png(data).width == 2


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xff\xd8\xff\xe0" + b"\x00" * 100, "not a PNG"),  # a JPEG
        (solid_png(8, 8, alpha=False), "no transparency"),
        (solid_png(8, 8)[:-20], "cut short"),
        (solid_png(2000, 1), "1 to 1024 pixels"),
        (solid_png(1024, 1), "at most 16 times"),  # scaled to a height, it was a picture 1024 times as wide
        (solid_png(1, 17), "at most 16 times"),
        (solid_png(8, 8) + b"#EXTM3U\n", "bytes after its end"),
        (png_with((8, 8, 8, 6), b"\x00" * 10), "does not match its size"),
        (png_with((8, 8, 8, 6), b"\x00" * (8 * 33) * 1000), "does not match its size"),  # a deflate bomb, small
        (png_with((8, 8, 7, 6), b""), "header is not valid"),
    ],
)
def test_anything_else_is_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(WatermarkRefused, match=reason):
        check_png(data)


def test_a_damaged_chunk_is_refused_by_its_checksum() -> None:
    data = bytearray(solid_png(8, 8))
    data[45] ^= 0xFF  # inside IDAT's data
    with pytest.raises(WatermarkRefused, match="checksum"):
        check_png(bytes(data))


def test_a_large_file_is_refused_before_it_is_read() -> None:
    with pytest.raises(WatermarkRefused, match="at most 100 bytes"):
        check_png(solid_png(64, 64), max_bytes=100)


def job(**options: object) -> EncodeJob:
    info = SourceInfo(1280, 720, 8.0, audio_index=1)
    return EncodeJob(Path("/in/source"), info, plan_ladder(720), 6, "veryfast", Path("/out"), **options)  # type: ignore[arg-type]


def inputs(argv: list[str]) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == "-i"]


def test_the_ladder_overlays_once_before_the_split_and_decodes_the_source_once() -> None:
    argv = command(job(watermark=MARK))
    assert inputs(argv) == ["file:/in/source", "file:/work/watermark.png"]  # one decode of the video
    graph = argv[argv.index("-filter_complex") + 1]
    assert graph.count("overlay") == 1
    assert graph.index("overlay") < graph.index("split")
    assert "scale=force_original_aspect_ratio=decrease:h=144:w=1280" in graph  # 0.2 of 720 lines, in the frame
    assert "colorchannelmixer=aa=0.5" in graph
    assert "x=36:y=36" in graph.replace("overlay=eof_action=repeat:", "overlay=")  # 0.05 of 720, top left


def test_the_watermark_opens_as_a_png_and_nothing_else() -> None:
    argv = command(job(watermark=MARK))
    at = argv.index("file:/work/watermark.png")
    assert argv[at - 5 : at - 1] == ["-f", "png_pipe", "-protocol_whitelist", "file"]


def test_a_chunk_carries_the_watermark_too() -> None:
    window = Chunk(index=1, count=3, start_s=60, end_s=120, run=0)
    graph = (argv := command(job(watermark=MARK, window=window)))[argv.index("-filter_complex") + 1]
    assert graph.index("trim") < graph.index("overlay") < graph.index("split")


def test_a_watermarked_job_leaves_the_gpu_for_the_overlay() -> None:
    assert job(encoder="nvenc").on_gpu
    assert not job(encoder="nvenc", watermark=MARK).on_gpu
    assert "scale_cuda" not in " ".join(command(job(encoder="nvenc", watermark=MARK)))


def test_without_a_watermark_the_ladder_is_as_it_was() -> None:
    argv = command(job())
    assert len(inputs(argv)) == 1
    assert "overlay" not in argv[argv.index("-filter_complex") + 1]


def test_the_preview_is_watermarked_after_its_downscale() -> None:
    info = SourceInfo(1920, 1080, 20.0, audio_index=1)
    argv = preview.command(Path("/in/source"), info, Path("/out"), watermark=MARK)
    assert inputs(argv) == ["file:/in/source", "file:/work/watermark.png"]
    graph = argv[argv.index("-filter_complex") + 1]
    assert graph.index("scale=854:480") < graph.index("overlay")
    assert "scale=w=854:h=96:force_original_aspect_ratio=decrease" in graph  # 0.2 of the preview's 480 lines
    assert argv[argv.index("-map") + 1] == "[v]"
    assert "-vf" not in argv


async def test_the_transcoder_checks_the_png_again_off_the_event_loop(
    store: MetadataStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records, png = Watermarks(store.collection(COLLECTION)), solid_png(16, 16)
    await records.put(video_key("v1"), Watermark.of(png, Placement(), check_png(png), 0.0))
    threads: list[threading.Thread] = []

    def checked(*args: Any) -> object:
        threads.append(threading.current_thread())
        return check_png(*args)

    monkeypatch.setattr(watermark, "check_png", checked)
    overlay = await fetch_overlay(records, "v1", tmp_path)
    assert overlay is not None
    assert overlay.png.read_bytes() == png
    assert threads
    assert threading.main_thread() not in threads  # before: inline, on the loop's thread (up to 4096 px)
