import pytest

from vodkit_gateway.playback import storage_key
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


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("master.m3u8", "hls/v/master.m3u8"),
        ("720p/seg_00012.ts", "hls/v/720p/seg_00012.ts"),
        ("480p/init.mp4", "hls/v/480p/init.mp4"),
        ("poster.jpg", "artwork/v/poster.jpg"),
        ("storyboard/sprite_002.jpg", "artwork/v/storyboard/sprite_002.jpg"),
        ("../other/master.m3u8", None),
        ("720p/../../x", None),
        ("storyboard/../poster.jpg", None),
        ("720p/seg_1.ts", None),
        ("source", None),
    ],
)
def test_playback_paths_map_only_to_this_videos_objects(path: str, key: str | None) -> None:
    assert storage_key("v", path) == key
