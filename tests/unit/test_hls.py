import pytest

from vodkit_packager.hls import FORMATS, Variant, codecs, master_playlist, parse_media_playlist

pytestmark = pytest.mark.unit


def test_a_media_playlist_is_parsed_into_segments() -> None:
    text = "#EXTM3U\n#EXTINF:6.000000,\nseg_00000.ts\n#EXTINF:2.5,\nseg_00001.ts\n#EXT-X-ENDLIST\n"
    assert [(s.name, s.duration_s) for s in parse_media_playlist(text)] == [
        ("seg_00000.ts", 6.0),
        ("seg_00001.ts", 2.5),
    ]


@pytest.mark.parametrize(
    ("profile", "level", "expected"),
    [("High", 31, "avc1.64001f"), ("Main", 40, "avc1.4d0028"), ("Constrained Baseline", 30, "avc1.42001e")],
)
def test_codec_strings_follow_rfc_6381(profile: str, level: int, expected: str) -> None:
    streams = [{"codec_name": "h264", "profile": profile, "level": level}, {"codec_name": "aac"}]
    assert codecs(streams) == f"{expected},mp4a.40.2"


def test_a_silent_rendition_lists_only_video() -> None:
    assert codecs([{"codec_name": "h264", "profile": "High", "level": 30}]) == "avc1.64001e"


def test_the_master_lists_variants_best_first_with_bandwidth_resolution_codecs() -> None:
    variants = [
        Variant(rung="480p", width=854, height=480, bandwidth=900_000, average_bandwidth=800_000, codecs="avc1.64001e"),
        Variant(
            rung="720p",
            width=1280,
            height=720,
            bandwidth=2_000_000,
            average_bandwidth=1_500_000,
            codecs="avc1.64001f,mp4a.40.2",
        ),
    ]
    assert master_playlist(variants).splitlines() == [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        '#EXT-X-STREAM-INF:BANDWIDTH=2000000,AVERAGE-BANDWIDTH=1500000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2"',
        "720p/playlist.m3u8",
        '#EXT-X-STREAM-INF:BANDWIDTH=900000,AVERAGE-BANDWIDTH=800000,RESOLUTION=854x480,CODECS="avc1.64001e"',
        "480p/playlist.m3u8",
    ]


def test_an_fmp4_master_declares_hls_version_7() -> None:
    variant = Variant(rung="480p", width=854, height=480, bandwidth=1, average_bandwidth=1, codecs="avc1.64001e")
    assert master_playlist([variant], FORMATS["fmp4"]).splitlines()[1] == "#EXT-X-VERSION:7"
    assert master_playlist([variant]).splitlines()[1] == "#EXT-X-VERSION:3"


def test_an_audio_only_master_lists_its_codec_and_no_resolution() -> None:
    """A podcast's one rung has no picture: RESOLUTION=0x0 would be a lie players may act on."""
    variant = Variant(rung="audio", width=0, height=0, bandwidth=140000, average_bandwidth=130000, codecs="mp4a.40.2")
    assert master_playlist([variant]).splitlines()[3] == (
        '#EXT-X-STREAM-INF:BANDWIDTH=140000,AVERAGE-BANDWIDTH=130000,CODECS="mp4a.40.2"'
    )
