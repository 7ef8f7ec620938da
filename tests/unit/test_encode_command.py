import dataclasses
import itertools
from pathlib import Path

import pytest

from vodkit_transcoder.encode import EncodeJob, command
from vodkit_transcoder.jobs import Chunk
from vodkit_transcoder.ladder import plan_ladder
from vodkit_transcoder.source import SourceInfo

pytestmark = pytest.mark.unit


def job(has_audio: bool) -> EncodeJob:
    info = SourceInfo(1280, 720, 8.0, audio_index=2 if has_audio else None)
    return EncodeJob(Path("/in/source"), info, plan_ladder(720), 6, "veryfast", Path("/out"))


def test_one_ffmpeg_decodes_once_and_writes_every_rung() -> None:
    argv = command(job(has_audio=True))
    assert argv.count("-i") == 1
    graph = argv[argv.index("-filter_complex") + 1]
    assert "split=3" in graph  # two rungs and the storyboard
    assert "tile" not in graph  # a sheet that fills late would hold back the rungs' muxing and the progress
    assert "/out/thumbnails.mkv" in argv  # tiled afterwards
    assert "scale=1280:720" in graph
    assert "scale=854:480" in graph
    assert "zscale" not in graph
    assert argv.count("expr:gte(t,n_forced*6)") == 2  # keyframes aligned to segments, every rung
    assert {"/out/720p.mp4", "/out/480p.mp4"} <= set(argv)
    assert argv.count("0:2") == 2  # the chosen audio track, by its stream index


def test_a_silent_source_maps_no_audio() -> None:
    argv = command(job(has_audio=False))
    assert not [arg for arg in argv if arg.startswith("0:")]
    assert "aac" not in argv


def test_an_hdr_source_is_tonemapped_once_before_the_split() -> None:
    info = SourceInfo(1920, 1080, 8.0, hdr=True)
    argv = command(EncodeJob(Path("/in/source"), info, plan_ladder(1080), 6, "veryfast", Path("/out")))
    graph = argv[argv.index("-filter_complex") + 1]
    assert graph.count("tonemap") == 1
    assert graph.index("tonemap") < graph.index("split")


def gpu_job(**info: object) -> EncodeJob:
    source = SourceInfo(1920, 1080, 8.0, **info)  # type: ignore[arg-type]
    return EncodeJob(Path("/in/source"), source, plan_ladder(1080), 6, "veryfast", Path("/out"), "nvenc")


def test_on_nvenc_frames_stay_on_the_gpu_from_decode_to_encode() -> None:
    argv = command(gpu_job(audio_index=1))
    assert argv[argv.index("-hwaccel") + 1] == "cuda"
    assert argv[argv.index("-hwaccel_output_format") + 1] == "cuda"
    graph = argv[argv.index("-filter_complex") + 1]
    assert "scale_cuda=1280:720:format=yuv420p" in graph
    assert graph.count("hwdownload") == 1  # only the storyboard's 160x90 thumbnails leave the GPU
    assert "hwdownload" in graph.split("tile")[0].rsplit("split", 1)[1]
    assert argv.count("h264_nvenc") == 3
    assert "libx264" not in argv
    assert argv.count("expr:gte(t,n_forced*6)") == 3


@pytest.mark.parametrize("info", [{"hdr": True}, {"rotation": 90}])
def test_sources_that_need_cpu_filters_use_libx264_even_on_a_gpu_node(info: dict[str, object]) -> None:
    argv = command(gpu_job(**info))
    assert "-hwaccel" not in argv
    assert "h264_nvenc" not in argv
    assert argv.count("libx264") == 3


def test_the_upload_is_opened_confined_to_real_video_containers_and_itself() -> None:
    argv = command(job(has_audio=True))
    opened = argv.index("-i")
    assert argv[opened + 1] == "file:/in/source"
    options = dict(itertools.pairwise(argv[: opened + 1]))  # each option to the argument after it
    assert options["-protocol_whitelist"] == "file"
    assert "hls" not in options["-format_whitelist"].split(",")
    assert {"mov", "matroska", "mpegts"} <= set(options["-format_whitelist"].split(","))


def test_threads_follow_the_cpus_the_transcoder_was_given_not_the_nodes_cores() -> None:
    info = SourceInfo(1280, 720, 8.0, audio_index=1)
    argv = command(EncodeJob(Path("/in/source"), info, plan_ladder(720), 6, "veryfast", Path("/out"), threads=2))
    assert argv[argv.index("-filter_threads") + 1] == "2"
    assert argv[argv.index("-threads") + 1 : argv.index("-threads") + 3] == ["2", "-i"]  # the decoder's
    assert argv.count("-threads") == 3  # the decoder and each rung's x264 (the storyboard's ffv1 is tiny)


def test_without_a_thread_count_ffmpeg_chooses() -> None:
    argv = command(job(has_audio=True))
    assert "-threads" not in argv
    assert "-filter_threads" not in argv


def test_the_ladder_yields_the_cpu_to_a_preview_only_when_asked() -> None:
    assert command(job(has_audio=True))[0] == "ffmpeg"
    niced = command(dataclasses.replace(job(has_audio=True), nice=10))
    assert niced[:4] == ["nice", "-n", "10", "ffmpeg"]  # every thread ffmpeg starts inherits it


def test_a_chunk_is_the_ladders_graph_over_its_window_on_the_sources_clock() -> None:
    """What chunks.py relies on to stitch with no seam (tests/media/test_chunked_ladder.py shows it works)."""
    window = Chunk(index=1, count=3, start_s=60, end_s=120, run=0)
    info = SourceInfo(1280, 720, 180.0, audio_index=1)
    argv = command(EncodeJob(Path("/in/source"), info, plan_ladder(720), 6, "veryfast", Path("/out"), window=window))
    line = " ".join(argv)
    assert argv[argv.index("-ss") + 1] == "59"  # a second early: trim cuts at the exact frame
    assert "trim=end=120.0:start=60.0" in line
    assert "-copyts" in argv
    assert argv.count("-force_key_frames") == 2  # every rung, at each segment start on the source's clock
    assert argv[argv.index("-force_key_frames") + 1] == "60,66,72,78,84,90,96,102,108,114"
    assert argv.count("-enc_time_base") == 2
    assert "0:1" not in line  # no audio: it is encoded once for the whole source
    assert "thumbnails" not in line  # the storyboard is made from the stitched rendition
    assert [arg for arg in argv if arg.startswith("/out/")] == ["/out/720p.ts", "/out/480p.ts"]
