from pathlib import Path

import pytest

from vodkit_transcoder.encode import EncodeJob, command
from vodkit_transcoder.ladder import plan_ladder
from vodkit_transcoder.source import SourceInfo

pytestmark = pytest.mark.unit


def job(has_audio: bool) -> EncodeJob:
    return EncodeJob(
        Path("/in/source"), SourceInfo(1280, 720, 8.0, has_audio), plan_ladder(720), 6, "veryfast", Path("/out")
    )


def test_one_ffmpeg_decodes_once_and_writes_every_rung() -> None:
    argv = command(job(has_audio=True))
    assert argv.count("-i") == 1
    graph = argv[argv.index("-filter_complex") + 1]
    assert "split=2" in graph
    assert "scale=-2:720" in graph
    assert "scale=-2:480" in graph
    assert argv.count("expr:gte(t,n_forced*6)") == 2  # keyframes aligned to segments, every rung
    assert {"/out/720p.mp4", "/out/480p.mp4"} <= set(argv)
    assert argv.count("0:a:0") == 2


def test_a_silent_source_maps_no_audio() -> None:
    argv = command(job(has_audio=False))
    assert "0:a:0" not in argv
    assert "aac" not in argv
