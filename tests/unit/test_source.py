from typing import Any

import pytest

from vodkit_transcoder.errors import UnsupportedMedia
from vodkit_transcoder.settings import TranscoderSettings
from vodkit_transcoder.source import describe

pytestmark = pytest.mark.unit


def probe(*streams: dict[str, Any], fmt: str = "mov,mp4,m4a,3gp,3g2,mj2", duration: str = "8.0") -> dict[str, Any]:
    return {"streams": list(streams), "format": {"format_name": fmt, "duration": duration}}


VIDEO = {"index": 0, "codec_type": "video", "width": 1280, "height": 720}
AUDIO = {"index": 1, "codec_type": "audio"}


def test_a_plain_video_with_audio() -> None:
    info = describe(probe(VIDEO, AUDIO))
    assert (info.width, info.height, info.duration_s, info.has_audio) == (1280, 720, 8.0, True)


def test_a_video_without_audio() -> None:
    assert describe(probe(VIDEO)).has_audio is False


def test_of_several_audio_tracks_the_default_one_is_kept() -> None:
    tracks = [{"index": i, "codec_type": "audio", "disposition": {"default": int(i == 2)}} for i in (1, 2, 3)]
    assert describe(probe(VIDEO, *tracks)).audio_index == 2
    no_default = [{**t, "disposition": {"default": 0}} for t in tracks]
    assert describe(probe(VIDEO, *no_default)).audio_index == 1


@pytest.mark.parametrize(("transfer", "hdr"), [("smpte2084", True), ("arib-std-b67", True), ("bt709", False)])
def test_pq_and_hlg_sources_are_hdr(transfer: str, hdr: bool) -> None:
    assert describe(probe({**VIDEO, "color_transfer": transfer})).hdr is hdr


@pytest.mark.parametrize(
    ("size", "height", "width"), [((1920, 1080), 720, 1280), ((1281, 721), 480, 852), ((1080, 1920), 720, 406)]
)
def test_rung_widths_keep_the_aspect_ratio_and_are_even(size: tuple[int, int], height: int, width: int) -> None:
    info = describe(probe({**VIDEO, "width": size[0], "height": size[1]}))
    assert info.width_at(height) == width


@pytest.mark.parametrize("side", [{"side_data_list": [{"rotation": -90}]}, {"tags": {"rotate": "90"}}])
def test_a_rotated_phone_video_is_described_as_displayed(side: dict[str, Any]) -> None:
    info = describe(probe({**VIDEO, "width": 1920, "height": 1080, **side}))
    assert (info.width, info.height) == (1080, 1920)


@pytest.mark.parametrize(
    ("fmt", "exact"), [("mov,mp4,m4a,3gp,3g2,mj2", True), ("matroska,webm", True), ("mpegts", False), ("avi", False)]
)
def test_only_indexed_containers_are_cut_into_chunks(fmt: str, exact: bool) -> None:
    """MPEG-TS seeks by bytes and lands past the time asked for: a chunk cut from there lost frames."""
    assert describe(probe(VIDEO, fmt=fmt)).seeks_exactly is exact


def test_audio_alone_is_a_source_of_one_audio_rung() -> None:
    """A podcast (an mp3 with cover art, say) was refused as having no video stream."""
    info = describe(probe({"codec_type": "video", "disposition": {"attached_pic": 1}}, AUDIO))
    assert (info.audio_only, info.has_audio, info.duration_s) == (True, True, 8.0)
    with pytest.raises(UnsupportedMedia, match="cannot contain"):  # held to the same limits as any source
        describe(probe(AUDIO, duration="36000"), 1000)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (probe(), "no video or audio stream"),
        (probe({**VIDEO, "codec_name": "png"}, fmt="png_pipe", duration="N/A"), "still image"),
        (probe(VIDEO, duration="0"), "no duration"),
        (probe({"codec_type": "video", "disposition": {"attached_pic": 1}}), "no video or audio stream"),
        (probe(AUDIO, duration="0"), "the audio has no duration"),
    ],
)
def test_what_is_not_a_video_is_refused_with_a_reason(data: dict[str, Any], reason: str) -> None:
    with pytest.raises(UnsupportedMedia, match=reason):
        describe(data)


@pytest.mark.parametrize(
    ("video", "duration", "size", "reason"),
    [
        ({"width": 8193, "height": 1000}, "8.0", None, "frame size 8193x1000 is larger"),
        ({"width": 8192, "height": 8192}, "8.0", None, "frame size 8192x8192 is larger"),
        ({"width": 15, "height": 720}, "8.0", None, "below 16 px"),
        ({"width": 64, "height": 8}, "8.0", None, "below 16 px"),
        ({}, str(13 * 3600), None, "lasts 13.0 h, more than 12.0 h"),
        ({"avg_frame_rate": "240000/1"}, "8.0", None, "frame rate of 240000"),
        ({}, "36001", 18_539, "claims 36001 s of video in 18,539 bytes"),
    ],
)
def test_a_source_beyond_the_limits_is_refused_before_decoding(
    video: dict[str, Any], duration: str, size: int | None, reason: str
) -> None:
    with pytest.raises(UnsupportedMedia, match=reason):
        describe(probe({**VIDEO, **video}, duration=duration), size)


@pytest.mark.parametrize(
    ("video", "duration", "size"),
    [
        ({"width": 7680, "height": 4320, "avg_frame_rate": "60/1"}, "8.0", 40_000_000),
        ({"width": 4320, "height": 7680}, "8.0", None),
        ({"width": 16, "height": 16}, "8.0", 4096),
        ({"avg_frame_rate": "0/0", "r_frame_rate": "90000/1"}, str(11 * 3600), 11 * 3600 * 300),
    ],
)
def test_sources_within_the_limits_pass(video: dict[str, Any], duration: str, size: int | None) -> None:
    describe(probe({**VIDEO, **video}, duration=duration), size)


def test_the_limits_are_settings() -> None:
    limits = TranscoderSettings(max_duration_s=60, max_frame_side=2000).source_limits
    assert (limits.max_duration_s, limits.max_side) == (60, 2000)
    with pytest.raises(UnsupportedMedia, match="lasts 61 s, more than 60 s"):
        describe(probe(VIDEO, duration="61"), None, limits)
