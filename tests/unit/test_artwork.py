import pytest

from vodkit_transcoder.artwork import Storyboard
from vodkit_transcoder.source import SourceInfo

pytestmark = pytest.mark.unit


def test_a_short_video_gets_a_thumbnail_every_two_seconds() -> None:
    board = Storyboard.plan(SourceInfo(1280, 720, 8.5))
    assert (board.interval_s, board.thumb_width, board.thumb_height, board.count) == (2, 160, 90, 5)


def test_a_long_video_keeps_its_thumbnails_bounded() -> None:
    board = Storyboard.plan(SourceInfo(1920, 1080, 2 * 3600))
    assert board.interval_s == 36
    assert board.count == 200


def test_the_vtt_points_each_cue_at_its_cell_of_its_sheet() -> None:
    vtt = Storyboard(2, 160, 90, 60.0).vtt().splitlines()
    assert vtt[:5] == ["WEBVTT", "", "00:00:00.000 --> 00:00:02.000", "sprite_000.jpg#xywh=0,0,160,90", ""]
    cues = [line for line in vtt if "#xywh=" in line]
    assert len(cues) == 30
    assert cues[6] == "sprite_000.jpg#xywh=160,90,160,90"  # row 1, column 1
    assert cues[25] == "sprite_001.jpg#xywh=0,0,160,90"  # the 26th thumbnail starts the second sheet
    assert vtt[-2:] == ["00:00:58.000 --> 00:01:00.000", "sprite_001.jpg#xywh=640,0,160,90"]
