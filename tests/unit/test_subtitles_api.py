"""The gateway's subtitle changes when the bus refuses their event (subtitles_api.py)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from tests.unit.conftest import Adapters
from vodkit_gateway import subtitles_api
from vodkit_gateway.keys import VIDEOS
from vodkit_gateway.videos import SubtitleTrack, VideoRecord, Videos
from vodkit_shared.bus.memory import MemoryBus
from vodkit_shared.events import Envelope, SubtitlesAdded, SubtitlesRemoved
from vodkit_shared.service import BUS, ApiError

pytestmark = pytest.mark.unit
VIDEO = "0b6c1f3e-5d8a-4c2e-9f1a-2b3c4d5e6f70"


class RefusingBus(MemoryBus):
    async def publish(self, envelope: Envelope) -> None:
        raise ConnectionError("the broker refused it")


def track(revision: int, default: bool = False, label: str = "English") -> SubtitleTrack:
    return SubtitleTrack(label=label, default=default, revision=revision, cues=2, state="ready")


async def refused(
    adapters: Adapters, change: Callable[[VideoRecord], VideoRecord | None], event: SubtitlesAdded | SubtitlesRemoved
) -> VideoRecord:
    """The record after `change` is made and its event refused, as the handlers do it."""
    videos = Videos(adapters.metadata.collection("videos"))
    await videos.create(
        VideoRecord(
            video_id=VIDEO,
            owner="alice",
            filename="a.mp4",
            size=1,
            status="completed",
            subtitles={"en": track(1, default=True), "fr": track(2, label="Français")},
            subtitle_revision=2,
        )
    )
    app = web.Application()
    app[BUS] = RefusingBus("refusing")
    app[VIDEOS] = videos
    before: list[VideoRecord] = []

    def noted(record: VideoRecord) -> VideoRecord | None:
        before.append(record)
        return change(record)

    stored = await videos.change_subtitles(VIDEO, noted)
    assert stored is not None
    with pytest.raises(ConnectionError):
        await subtitles_api._publish(make_mocked_request("POST", "/", app=app), stored, event, before[-1])
    record = await videos.get(VIDEO)
    assert record is not None
    return record


async def test_a_refused_replacement_leaves_the_previous_version_and_default_as_they_were(adapters: Adapters) -> None:
    def replace(record: VideoRecord) -> VideoRecord:
        tracks = {lang: t.model_copy(update={"default": False}) for lang, t in record.subtitles.items()}
        tracks["en"] = SubtitleTrack(label="English", default=False, revision=3, cues=5)
        return record.model_copy(update={"subtitles": tracks, "subtitle_revision": 3})

    event = SubtitlesAdded(language="en", label="English", default=False, revision=3, cues=5, webvtt="WEBVTT\n")
    record = await refused(adapters, replace, event)
    # before: the language went from the record altogether, and en's default flag stayed cleared
    assert record.subtitles == {"en": track(1, default=True), "fr": track(2, label="Français")}
    assert record.subtitle_revision == 3  # never reused: the refused event may have reached the broker


async def test_a_refused_removal_leaves_the_track_listed(adapters: Adapters) -> None:
    def remove(record: VideoRecord) -> VideoRecord:
        tracks = {lang: t for lang, t in record.subtitles.items() if lang != "fr"}
        return record.model_copy(update={"subtitles": tracks, "subtitle_revision": 3})

    record = await refused(adapters, remove, SubtitlesRemoved(language="fr", revision=3))
    assert set(record.subtitles) == {"en", "fr"}  # before: fr stayed gone while the master listed it


@pytest.mark.parametrize(
    "label", ["line\u2028break", "para\u2029graph", "next\u0085line", "c1\u009bcontrol", "del\u007f"]
)
def test_a_label_with_a_line_break_or_control_character_of_any_kind_is_refused(label: str) -> None:
    with pytest.raises(ApiError) as refused:  # before: U+2028, U+2029 and C1 passed, and hls.js lost the URI
        subtitles_api._label({"label": label.encode()})
    assert refused.value.status == 400
    assert re.fullmatch(subtitles_api.LABEL_PATTERN, "Português (Brasil) — 字幕") is not None


def test_two_languages_may_not_share_a_label() -> None:
    record = VideoRecord(
        video_id=VIDEO,
        owner="alice",
        filename="a.mp4",
        size=1,
        subtitles={"en": track(1), "fr": track(2, label="Français")},
    )
    assert subtitles_api.label_taken(record, "en-GB", "English") == "en"  # RFC 8216: NAMEs differ in a group
    assert subtitles_api.label_taken(record, "en", "English") is None  # its own track, replaced
    assert subtitles_api.label_taken(record, "de", "Deutsch") is None
