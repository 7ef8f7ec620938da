from pathlib import Path

import pytest

from vodkit_transcoder.encode import EncodeJob, command
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
    assert "split=2" in graph
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
