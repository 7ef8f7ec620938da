from typing import Any

import pytest

from vodkit_transcoder.source import UnsupportedMedia, describe

pytestmark = pytest.mark.unit


def probe(*streams: dict[str, Any], fmt: str = "mov,mp4,m4a,3gp,3g2,mj2", duration: str = "8.0") -> dict[str, Any]:
    return {"streams": list(streams), "format": {"format_name": fmt, "duration": duration}}


VIDEO = {"codec_type": "video", "width": 1280, "height": 720}
AUDIO = {"codec_type": "audio"}


def test_a_plain_video_with_audio() -> None:
    info = describe(probe(VIDEO, AUDIO))
    assert (info.width, info.height, info.duration_s, info.has_audio) == (1280, 720, 8.0, True)


def test_a_video_without_audio() -> None:
    assert describe(probe(VIDEO)).has_audio is False


@pytest.mark.parametrize("side", [{"side_data_list": [{"rotation": -90}]}, {"tags": {"rotate": "90"}}])
def test_a_rotated_phone_video_is_described_as_displayed(side: dict[str, Any]) -> None:
    info = describe(probe({**VIDEO, "width": 1920, "height": 1080, **side}))
    assert (info.width, info.height) == (1080, 1920)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (probe(AUDIO), "no video stream"),
        (probe({**VIDEO, "codec_name": "png"}, fmt="png_pipe", duration="N/A"), "still image"),
        (probe(VIDEO, duration="0"), "no duration"),
        (probe({"codec_type": "video", "disposition": {"attached_pic": 1}}, AUDIO), "no video stream"),
    ],
)
def test_what_is_not_a_video_is_refused_with_a_reason(data: dict[str, Any], reason: str) -> None:
    with pytest.raises(UnsupportedMedia, match=reason):
        describe(data)
