"""Real sources of every awkward kind through the transcoder's ladder encode, checked with ffprobe."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support import make_clip
from vodkit_transcoder.encode import EncodeJob, encode
from vodkit_transcoder.errors import UnsupportedMedia
from vodkit_transcoder.ladder import plan_ladder, segment_seconds
from vodkit_transcoder.source import SourceInfo, inspect

pytestmark = pytest.mark.media


def ffprobe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", "-show_streams", "-show_format", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, Any] = json.loads(out)
    return result


def stream(info: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [s for s in info["streams"] if s["codec_type"] == kind]


async def ladder(source: Path, out: Path) -> tuple[SourceInfo, dict[str, dict[str, Any]]]:
    """Inspect and encode `source`; returns what was read and ffprobe's view of each rung."""
    info = await inspect(source)
    job = EncodeJob(source, info, plan_ladder(info.height), segment_seconds(info.duration_s), "ultrafast", out)
    progress: list[float] = []

    async def record(percent: float) -> None:
        progress.append(percent)

    await encode(job, record)
    assert progress == sorted(progress)
    return info, {rung.name: ffprobe(job.output(rung)) for rung in job.rungs}


def lavfi(path: Path, *args: str) -> Path:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args, str(path)], check=True)
    return path


async def test_a_rotated_phone_video_is_transcoded_upright(tmp_path: Path) -> None:
    upright = make_clip(tmp_path / "camera.mp4", seconds=2, width=1280, height=720)
    # As phones store portrait video: landscape frames plus a rotation in the container.
    source = lavfi(tmp_path / "phone.mp4", "-i", str(upright), "-c", "copy", "-metadata:s:v:0", "rotate=90")
    info, rungs = await ladder(source, tmp_path)
    assert (info.width, info.height) == (720, 1280)
    assert list(rungs) == ["1080p", "720p", "480p"]
    video = stream(rungs["720p"], "video")[0]
    assert (video["width"], video["height"]) == (406, 720)


async def test_odd_dimensions_give_even_rungs_below_the_source(tmp_path: Path) -> None:
    source = lavfi(
        tmp_path / "odd.mkv",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=1280x720:rate=25:duration=2",
        "-vf",
        "scale=1281:721",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv444p",
    )
    _, rungs = await ladder(source, tmp_path)
    sizes = {name: (stream(p, "video")[0]["width"], stream(p, "video")[0]["height"]) for name, p in rungs.items()}
    assert sizes == {"720p": (1280, 720), "480p": (852, 480)}
    assert all(stream(p, "video")[0]["pix_fmt"] == "yuv420p" for p in rungs.values())


async def test_a_variable_frame_rate_source_keeps_its_duration(tmp_path: Path) -> None:
    source = lavfi(
        tmp_path / "vfr.mp4",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x480:rate=30:duration=4",
        "-vf",
        "select='lt(t,2)+not(mod(n,3))'",
        "-fps_mode",
        "vfr",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
    )
    _, rungs = await ladder(source, tmp_path)
    assert abs(float(rungs["480p"]["format"]["duration"]) - 4.0) < 0.2


async def test_of_several_audio_tracks_the_default_one_is_kept(tmp_path: Path) -> None:
    source = lavfi(
        tmp_path / "tracks.mkv",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x480:rate=25:duration=2",
        "-f",
        "lavfi",
        "-i",
        "anullsrc=r=48000:cl=mono",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440",
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-map",
        "2:a",
        "-t",
        "2",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:a",
        "aac",
        "-disposition:a:0",
        "0",
        "-disposition:a:1",
        "default",
    )
    _, rungs = await ladder(source, tmp_path)
    out = tmp_path / "480p.mp4"
    assert len(stream(rungs["480p"], "audio")) == 1
    volume = subprocess.run(
        ["ffmpeg", "-nostdin", "-i", str(out), "-af", "volumedetect", "-f", "null", "-"], capture_output=True, text=True
    ).stderr
    mean = float(volume.split("mean_volume:")[1].split("dB")[0])
    assert mean > -40, "the silent, non-default track was kept"


async def test_a_silent_source_gives_silent_renditions(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "silent.mp4", seconds=2, width=640, height=480, audio=False)
    _, rungs = await ladder(source, tmp_path)
    assert stream(rungs["480p"], "audio") == []


async def test_ten_bit_hdr_becomes_eight_bit_sdr(tmp_path: Path) -> None:
    source = lavfi(
        tmp_path / "hdr.mp4",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=1280x720:rate=25:duration=2",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p10le",
        "-color_primaries",
        "bt2020",
        "-color_trc",
        "smpte2084",
        "-colorspace",
        "bt2020nc",
    )
    info, rungs = await ladder(source, tmp_path)
    assert info.hdr
    video = stream(rungs["720p"], "video")[0]
    assert video["pix_fmt"] == "yuv420p"
    assert video.get("color_transfer") != "smpte2084"


async def test_frame_rate_is_capped_at_60(tmp_path: Path) -> None:
    source = lavfi(
        tmp_path / "fast.mp4",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x480:rate=120:duration=2",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
    )
    _, rungs = await ladder(source, tmp_path)
    assert stream(rungs["480p"], "video")[0]["avg_frame_rate"] in ("60/1", "60000/1001")


async def test_a_truncated_file_fails_at_once_as_unsupported(tmp_path: Path) -> None:
    whole = make_clip(tmp_path / "whole.mp4", seconds=4, width=640, height=480, extra=["-movflags", "+faststart"])
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(UnsupportedMedia, match="cannot be decoded"):
        await ladder(cut, tmp_path)
