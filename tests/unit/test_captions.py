"""Subtitle files (vodkit_shared.captions): hostile input refused with a reason, SRT converted, cues segmented."""

from __future__ import annotations

import re

import pytest

from vodkit_shared import captions
from vodkit_shared.captions import (
    LANGUAGE_PATTERN,
    MAX_REPEATED_BYTES,
    CaptionError,
    Cue,
    check_repeats,
    check_within,
    clipped,
    default_language,
    media_playlist,
    parse,
    repeated_bytes,
    segments,
    to_webvtt,
)

pytestmark = pytest.mark.unit
LIMIT = 64 * 1024

VTT = b"""\xef\xbb\xbfWEBVTT - a title
Kind: captions

NOTE a comment
that spans lines

STYLE
::cue { color: yellow }

intro
00:00:02.000 --> 00:00:04.000 align:start line:0
Hello <b>there</b>

00:05.500 --> 00:00:06.000
Short form, no hours
"""

SRT = (
    b'1\r\n00:00:01,000 --> 00:00:02,500\r\n<font color="red">Tom & Jerry</font> <i>run</i>\r\n\r\n'
    b"2\r\n00:00:03,000 --> 00:00:04,000\r\na < b\r\nsecond line\r\n"
)


def test_a_webvtt_file_is_parsed_with_its_header_notes_styles_identifiers_and_settings() -> None:
    assert parse(VTT, LIMIT) == [
        Cue(2000, 4000, "Hello <b>there</b>", "align:start line:0"),
        Cue(5500, 6000, "Short form, no hours"),
    ]


def test_srt_becomes_webvtt_keeping_only_italic_bold_underline_and_escaping_the_rest() -> None:
    cues = parse(SRT, LIMIT)
    assert cues == [
        Cue(1000, 2500, "Tom &amp; Jerry <i>run</i>"),
        Cue(3000, 4000, "a &lt; b\nsecond line"),
    ]
    assert to_webvtt(cues) == (
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.500\nTom &amp; Jerry <i>run</i>\n\n"
        "00:00:03.000 --> 00:00:04.000\na &lt; b\nsecond line\n"
    )
    assert parse(to_webvtt(cues).encode(), LIMIT) == cues  # what the packager reads back


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"WEBVTT\n\n00:00:04.000 --> 00:00:02.000\nbackwards\n", "line 3: the cue ends before it starts"),
        (b"WEBVTT\n\n00:00:01.000 --> 00:00:61.000\nx\n", "line 3: malformed cue timing"),
        (b"WEBVTT\n\n00:00:01,000 --> 00:00:02,000\nx\n", "line 3: malformed cue timing"),
        (b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000 evil:1\nx\n", "line 3: unknown cue setting"),
        (b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n00:00:03.000 --> 00:00:04.000\n", "line 4: a cue's text"),
        (b"WEBVTTX\n\n00:00:01.000 --> 00:00:02.000\nx\n", "line 1: a WebVTT file starts with WEBVTT"),
        (b"WEBVTT\n", "the file holds no cues"),
        (b"1\n00:00:01 --> 00:00:02\nx\n", "line 2: malformed SRT timing"),
        (b"just some text\n", "line 1: malformed SRT timing"),
        (b"", "neither WebVTT"),
        (b"\xff\xfeW\x00E\x00", "not UTF-8 text (byte 0)"),
        (b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nnul\x00\n", "control characters"),
        (b"1\n100:00:00,000 --> 100:00:01,000\nx\n", "line 2: the cue ends after 100 hours"),
    ],
)
def test_a_bad_file_is_refused_saying_where(data: bytes, reason: str) -> None:
    with pytest.raises(CaptionError) as refused:
        parse(data, LIMIT)
    assert reason in str(refused.value)
    assert "/" not in str(refused.value).replace("</", "")  # never a path


def test_size_and_cue_count_are_bounded() -> None:
    with pytest.raises(CaptionError, match="at most 1024 bytes"):
        parse(b"WEBVTT\n\n" + b"x" * 2000, 1024)
    many = b"WEBVTT\n\n" + b"".join(b"00:00:01.000 --> 00:00:02.000\nx\n\n" for _ in range(11))
    with pytest.raises(CaptionError, match="at most 10 cues"):
        parse(many, LIMIT, max_cues=10)
    assert len(parse(many, LIMIT, max_cues=11)) == 11


def test_cues_must_end_within_a_known_duration_and_are_clipped_to_it_otherwise() -> None:
    cues = [Cue(1000, 2000, "a"), Cue(7000, 9000, "b"), Cue(8000, 8500, "c")]
    check_within(cues[:1], 8.0)
    with pytest.raises(CaptionError, match=r"a cue at 00:00:07.000 ends at 00:00:09.000, after the video's end"):
        check_within(cues, 8.0)
    assert clipped(cues, 8.0) == [Cue(1000, 2000, "a"), Cue(7000, 8000, "b")]


def test_cues_are_cut_along_the_video_segments_with_a_timestamp_map() -> None:
    cues = [Cue(2000, 4000, "across"), Cue(6500, 7000, "second only"), Cue(6000, 6000, "instant")]
    parts = segments(cues, [6.0, 2.0], 132000)
    assert [p.name for p in parts] == ["seg_00000.vtt", "seg_00001.vtt"]
    header = "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:132000,LOCAL:00:00:00.000\n\n"
    assert parts[0].text == header + "00:00:02.000 --> 00:00:04.000\nacross\n"
    assert parts[1].text == (
        header + "00:00:06.000 --> 00:00:06.000\ninstant\n\n00:00:06.500 --> 00:00:07.000\nsecond only\n"
    )
    spanning = segments([Cue(5000, 7000, "spans")], [6.0, 2.0], 0)
    assert all("spans" in p.text for p in spanning)  # in both: players drop the repeat
    assert media_playlist(parts).splitlines() == [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        "#EXT-X-TARGETDURATION:6",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXTINF:6.000000,",
        "seg_00000.vtt",
        "#EXTINF:2.000000,",
        "seg_00001.vtt",
        "#EXT-X-ENDLIST",
    ]


@pytest.mark.parametrize("tag", ["en", "pt-BR", "zh-Hans", "es-419", "zh-Hant-TW", "fil"])
def test_language_tags_of_the_conservative_subset_pass(tag: str) -> None:
    assert re.fullmatch(LANGUAGE_PATTERN, tag)


@pytest.mark.parametrize("tag", ["", "EN", "en_US", "en-us", "english", "../en", "en-US-x-private", "e"])
def test_other_language_tags_do_not(tag: str) -> None:
    assert not re.fullmatch(LANGUAGE_PATTERN, tag)


def test_the_default_track_is_the_last_made_default_else_the_first_added() -> None:
    assert default_language({}) is None
    assert default_language({"fr": (2, False), "en": (1, False)}) == "en"
    assert default_language({"fr": (2, True), "en": (1, False), "de": (3, True)}) == "de"


def test_segmenting_sweeps_once_instead_of_comparing_every_cue_with_every_segment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 20,000 short cues over 2 h in 4 s segments: 36 million cue × segment comparisons (~15 s) before
    cues = [Cue(i * 360, i * 360 + 300, "x") for i in range(20_000)]
    compared = 0
    real_overlaps = captions._overlaps

    def counting(cue: Cue, start_ms: float, end_ms: float, last: bool) -> bool:
        nonlocal compared
        compared += 1
        return real_overlaps(cue, start_ms, end_ms, last)

    monkeypatch.setattr(captions, "_overlaps", counting)
    parts = segments(cues, [4.0] * 1800, 0)
    assert compared < 2 * (len(cues) + 1800)  # each cue against the segments it reaches, not against all
    assert 20_000 <= sum(p.text.count("-->") for p in parts) < 22_000  # a few span a boundary
    unsorted = segments([Cue(6500, 7000, "late"), Cue(6000, 6000, "instant"), Cue(0, 7000, "long")], [6.0, 2.0], 0)
    assert unsorted[1].text.index("long") < unsorted[1].text.index("instant") < unsorted[1].text.index("late")


def test_cues_that_would_be_repeated_over_many_segments_are_refused() -> None:
    # the review's file: 15,000 cues each spanning 99 hours, under 512 KiB, ~900 MB of segments on a 2 h video
    data = b"WEBVTT\n\n" + b"00:00.000 --> 99:00:00.000\nx\n\n" * 15_000
    cues = parse(data, 512 * 1024)
    assert repeated_bytes(cues) > MAX_REPEATED_BYTES
    with pytest.raises(CaptionError, match="cues overlap for too long"):
        check_repeats(cues)
    # a whole film's worth of ordinary cues, and one cue shown all along, pass
    ordinary = [Cue(i * 3000, i * 3000 + 2500, "a line of dialogue, about this long") for i in range(2400)]
    check_repeats([*ordinary, Cue(0, 2 * 3600 * 1000, "LIVE")])
