"""Playback delivery rules: which paths reach storage, how playlists are signed, which ranges are served."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import make_mocked_request

from vodkit_gateway.app import create_app
from vodkit_gateway.playback import ByteRange, _byte_range, sign_playlist, sign_storyboard, storage_key
from vodkit_gateway.settings import GatewaySettings
from vodkit_shared.service import ApiError

pytestmark = pytest.mark.unit
VIDEO = "0b6c1f3e-5d8a-4c2e-9f1a-2b3c4d5e6f70"


ROUTED = [
    "master.m3u8",
    "720p/playlist.m3u8",
    "720p/seg_00012.ts",
    "480p/init.mp4",
    "1080p/seg_00001.m4s",
    "64p/playlist.m3u8",  # a source under 100 px tall gets one rung at its own height
    "16p/seg_00000.ts",
    "preview/playlist.m3u8",  # the early preview, while the ladder encodes
    "preview/seg_00003.ts",
    "poster.jpg",
    "storyboard/sprite_002.jpg",
    "storyboard/storyboard.vtt",
    "subtitles/en/00000003/playlist.m3u8",  # a version of a track: its own folder
    "subtitles/pt-BR/00000003/seg_00001.vtt",
    "subtitles/en/playlist.m3u8",  # as masters written before per-version folders name them
    "subtitles/zh-Hans/seg_00000.vtt",
]
NOT_ROUTED = [
    "../other/master.m3u8",
    "720p/../../x",
    "storyboard/../poster.jpg",
    "720p/seg_1.ts",
    "720p/source",
    "preview/source",
    "previews/playlist.m3u8",
    "source",
    "subtitles/en/3/playlist.m3u8",
    "subtitles/en/00000003/source.vtt",
    "subtitles/en/source_00000003.vtt",
    "subtitles/EN/00000003/playlist.m3u8",
]


@pytest.mark.parametrize("path", ROUTED + NOT_ROUTED)
async def test_only_playback_paths_are_routed(path: str) -> None:
    app = create_app(GatewaySettings(auth_secret="s"))  # type: ignore[call-arg]
    match = await app.router.resolve(make_mocked_request("GET", f"/videos/{VIDEO}/{path}?token=t", app=app))
    assert (match.http_exception is None) == (path in ROUTED)


def test_playback_paths_map_to_this_videos_objects() -> None:
    assert storage_key(VIDEO, "720p/seg_00012.ts") == f"hls/{VIDEO}/720p/seg_00012.ts"
    assert storage_key(VIDEO, "poster.jpg") == f"artwork/{VIDEO}/poster.jpg"
    assert storage_key(VIDEO, "storyboard/storyboard.vtt") == f"artwork/{VIDEO}/storyboard/storyboard.vtt"


def test_every_uri_of_a_playlist_is_signed() -> None:
    master = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n720p/playlist.m3u8\n\n"
    assert (
        sign_playlist(master, "a.b-c") == "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n720p/playlist.m3u8?token=a.b-c\n\n"
    )
    media = '#EXTM3U\n#EXT-X-MAP:URI="init.mp4"\n#EXTINF:6.0,\nseg_00000.m4s\n#EXT-X-ENDLIST\n'
    assert sign_playlist(media, "t") == (
        '#EXTM3U\n#EXT-X-MAP:URI="init.mp4?token=t"\n#EXTINF:6.0,\nseg_00000.m4s?token=t\n#EXT-X-ENDLIST\n'
    )


def test_storyboard_sprites_are_signed_before_their_fragment() -> None:
    vtt = "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nsprite_000.jpg#xywh=0,0,160,90\n"
    assert (
        sign_storyboard(vtt, "t") == "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nsprite_000.jpg?token=t#xywh=0,0,160,90\n"
    )


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", None),
        ("bytes=0-99", ByteRange(0, 99)),
        ("bytes=100-", ByteRange(100, 999)),
        ("bytes=-10", ByteRange(990, 999)),
        ("bytes=-5000", ByteRange(0, 999)),
        ("bytes=990-5000", ByteRange(990, 999)),
        ("bytes=0-1,5-6", None),  # several ranges: the whole object, as RFC 9110 allows
        ("items=0-1", None),
        ("bytes=-", None),
    ],
)
def test_byte_ranges(header: str, expected: ByteRange | None) -> None:
    request = make_mocked_request("GET", "/", headers={"Range": header} if header else {})
    assert _byte_range(request, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5-2", "bytes=-0"])
def test_ranges_outside_the_object_are_416(header: str) -> None:
    with pytest.raises(ApiError) as error:
        _byte_range(make_mocked_request("GET", "/", headers={"Range": header}), 1000)
    assert error.value.status == 416
    assert error.value.headers == {"Content-Range": "bytes */1000"}
