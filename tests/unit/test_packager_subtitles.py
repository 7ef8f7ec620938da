"""The packager's subtitle tracks (subtitles.py): stored, segmented along the video, listed in the master."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import eventually
from tests.unit.conftest import Adapters
from vodkit_packager.hls import FORMATS, SubtitleRendition, Variant, master_playlist
from vodkit_packager.packages import Packages
from vodkit_packager.subtitles import MasterWritten, Subtitles, SubtitleSets, SubtitleTrack
from vodkit_shared import captions
from vodkit_shared.events import (
    Envelope,
    SubtitlesAdded,
    SubtitlesPublished,
    SubtitlesRemoved,
)
from vodkit_shared.lifecycle import EndedVideos
from vodkit_shared.storage import ObjectStorage

pytestmark = pytest.mark.unit
VIDEO = "v1"
VARIANT = Variant(rung="480p", width=854, height=480, bandwidth=1, average_bandwidth=1, codecs="avc1.64001e")
PLAYLIST = "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6.000000,\nseg_00000.ts\n#EXTINF:2.000000,\nseg_00001.ts\n"
WEBVTT = "WEBVTT\n\n00:00:02.000 --> 00:00:04.000\nhello\n\n00:00:07.000 --> 00:00:09.000\nruns past the end\n"


class MeasuredSubtitles(Subtitles):
    """Without ffprobe: the segments' first timestamp is what ffmpeg's MPEG-TS muxer gives a 30 fps H.264."""

    probes = 0

    async def _first_timestamp(self, video_id: str, rung: str) -> int:
        self.probes += 1
        return 132000


@dataclass
class Rig:
    subtitles: MeasuredSubtitles
    storage: ObjectStorage
    packages: Packages
    ended: EndedVideos
    published: list[Envelope]


@pytest.fixture
async def rig(adapters: Adapters, tmp_path: Path) -> Rig:
    published = await adapters.heard(SubtitlesPublished.TYPE)
    packages = Packages(adapters.metadata.collection("packages"))
    ended = EndedVideos(adapters.metadata.collection("packager_ended"))
    sets = SubtitleSets(adapters.metadata.collection("packager_subtitles"))
    subtitles = MeasuredSubtitles(adapters.storage, adapters.bus, packages, sets, ended, FORMATS["mpegts"], tmp_path)
    return Rig(subtitles, adapters.storage, packages, ended, published)


async def packaged(rig: Rig) -> None:
    await rig.storage.put_bytes(f"hls/{VIDEO}/480p/playlist.m3u8", PLAYLIST.encode())
    await rig.packages.record_variant(VIDEO, ["480p"], VARIANT)
    await rig.packages.mark_done(VIDEO)


def added(language: str, revision: int, default: bool = False, label: str = "English") -> Envelope:
    event = SubtitlesAdded(language=language, label=label, default=default, revision=revision, cues=2, webvtt=WEBVTT)
    return Envelope.wrap(event, video_id=VIDEO)


def removed(language: str, revision: int) -> Envelope:
    return Envelope.wrap(SubtitlesRemoved(language=language, revision=revision), video_id=VIDEO)


async def text(storage: ObjectStorage, key: str) -> str:
    return (await storage.get_bytes(key)).decode()


def test_the_master_lists_a_subtitles_group_and_every_variant_names_it() -> None:
    tracks = [SubtitleRendition("en", "English", True, 1), SubtitleRendition("pt-BR", "Português", False, 12)]
    assert master_playlist([VARIANT], FORMATS["fmp4"], tracks).splitlines() == [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="English",LANGUAGE="en",DEFAULT=YES,AUTOSELECT=YES,'
        'FORCED=NO,URI="subtitles/en/00000001/playlist.m3u8"',
        '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="Português",LANGUAGE="pt-BR",DEFAULT=NO,AUTOSELECT=YES,'
        'FORCED=NO,URI="subtitles/pt-BR/00000012/playlist.m3u8"',
        '#EXT-X-STREAM-INF:BANDWIDTH=1,AVERAGE-BANDWIDTH=1,RESOLUTION=854x480,CODECS="avc1.64001e",SUBTITLES="subs"',
        "480p/playlist.m3u8",
    ]


async def test_a_track_of_a_packaged_video_is_segmented_like_the_video_and_listed(rig: Rig) -> None:
    await packaged(rig)
    await rig.subtitles.on_added(added("en", 1))

    playlist = await text(rig.storage, f"hls/{VIDEO}/subtitles/en/00000001/playlist.m3u8")
    assert [line for line in playlist.splitlines() if line.startswith("#EXTINF")] == [
        "#EXTINF:6.000000,",
        "#EXTINF:2.000000,",
    ]
    first = await text(rig.storage, f"hls/{VIDEO}/subtitles/en/00000001/seg_00000.vtt")
    assert first.startswith("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:132000,LOCAL:00:00:00.000\n")
    assert "hello" in first
    assert "runs past" not in first
    second = await text(rig.storage, f"hls/{VIDEO}/subtitles/en/00000001/seg_00001.vtt")
    assert "00:00:07.000 --> 00:00:08.000\nruns past the end" in second  # clipped to the video's 8 s
    master = await text(rig.storage, f"hls/{VIDEO}/master.m3u8")
    assert 'LANGUAGE="en",DEFAULT=YES' in master
    assert 'SUBTITLES="subs"' in master
    await eventually(lambda: len(rig.published) == 1)
    [event] = rig.published
    assert [(t.language, t.revision, t.default) for t in event.payload(SubtitlesPublished).tracks] == [("en", 1, True)]


async def test_a_track_added_before_packaging_waits_for_the_ladders_master(rig: Rig) -> None:
    await rig.subtitles.on_added(added("en", 1))
    assert await rig.storage.keys(f"hls/{VIDEO}/master.m3u8") == []
    assert rig.published == []

    await packaged(rig)
    master, written = await rig.subtitles.master(VIDEO, [VARIANT])  # what the packager's _publish_master does
    assert 'URI="subtitles/en/00000001/playlist.m3u8"' in master
    assert await rig.storage.size(f"hls/{VIDEO}/subtitles/en/00000001/seg_00001.vtt")
    await rig.subtitles.announce(added("en", 1), written)
    await eventually(lambda: len(rig.published) == 1)


async def test_several_languages_one_default_stale_and_duplicate_changes_change_nothing(rig: Rig) -> None:
    await packaged(rig)
    await rig.subtitles.on_added(added("en", 1))
    await rig.subtitles.on_added(added("fr", 2, default=True, label="Français"))
    await rig.subtitles.on_added(added("fr", 2, default=True, label="Français"))  # a duplicate
    await rig.subtitles.on_added(added("en", 1))
    master = await text(rig.storage, f"hls/{VIDEO}/master.m3u8")
    assert 'LANGUAGE="en",DEFAULT=NO' in master
    assert 'LANGUAGE="fr",DEFAULT=YES' in master
    await eventually(lambda: len(rig.published) == 2)
    assert rig.subtitles.probes == 1  # measured once, kept

    await rig.subtitles.on_removed(removed("fr", 3))
    await rig.subtitles.on_added(added("fr", 2, default=True))  # late: older than its removal
    master = await text(rig.storage, f"hls/{VIDEO}/master.m3u8")
    assert 'LANGUAGE="fr"' not in master
    assert 'LANGUAGE="en",DEFAULT=YES' in master
    assert await rig.storage.keys(f"hls/{VIDEO}/subtitles/fr/") == []
    await eventually(lambda: len(rig.published) == 3)
    assert [t.language for t in rig.published[-1].payload(SubtitlesPublished).tracks] == ["en"]

    await rig.subtitles.on_removed(removed("en", 4))
    master = await text(rig.storage, f"hls/{VIDEO}/master.m3u8")
    assert "SUBTITLES" not in master
    await eventually(lambda: len(rig.published) == 4)
    assert rig.published[-1].payload(SubtitlesPublished).tracks == []


async def test_subtitles_of_a_deleted_video_write_nothing(rig: Rig) -> None:
    await rig.ended.record(VIDEO, "deleted")
    await rig.subtitles.on_added(added("en", 1))
    assert await rig.storage.keys(f"hls/{VIDEO}/") == []
    assert rig.published == []  # and nothing was published: nothing was written to announce


async def test_a_track_is_cut_off_the_event_loop(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[threading.Thread] = []
    cut = captions.segments

    def segments(*args: Any) -> list[captions.SubtitleSegment]:
        threads.append(threading.current_thread())
        return cut(*args)

    monkeypatch.setattr(captions, "segments", segments)
    await packaged(rig)
    await rig.subtitles.on_added(added("en", 1))
    assert threads
    assert threading.main_thread() not in threads  # before: run inline, on the loop's thread


async def listed_objects(storage: ObjectStorage) -> list[str]:
    """The storage keys of every subtitle playlist the master names and of every segment those name."""
    master = await text(storage, f"hls/{VIDEO}/master.m3u8")
    keys = []
    for uri in re.findall(r'URI="([^"]+)"', master):
        playlist_key = f"hls/{VIDEO}/{uri}"
        keys.append(playlist_key)
        folder = playlist_key.rsplit("/", 1)[0]
        playlist = await text(storage, playlist_key)
        keys += [f"{folder}/{line}" for line in playlist.splitlines() if line and not line.startswith("#")]
    return keys


async def test_a_removal_racing_a_new_version_of_its_language_leaves_the_new_one_whole(rig: Rig) -> None:
    await packaged(rig)
    await rig.subtitles.on_added(added("en", 1))
    republish = rig.subtitles.republish
    removal = removed("en", 2)

    async def then_added_again(envelope: Envelope) -> None:
        await republish(envelope)
        if envelope is removal:  # the re-add, on another subscription, runs before the removal sweeps
            await rig.subtitles.on_added(added("en", 3))

    rig.subtitles.republish = then_added_again  # type: ignore[method-assign]
    await rig.subtitles.on_removed(removal)
    master = await text(rig.storage, f"hls/{VIDEO}/master.m3u8")
    assert 'LANGUAGE="en"' in master
    for key in await listed_objects(rig.storage):  # before: the removal deleted the new version's objects
        assert await rig.storage.size(key) is not None, key
    assert not [key for key in await rig.storage.keys(f"hls/{VIDEO}/subtitles/en/") if "/00000001/" in key]


async def test_a_stale_version_that_lost_the_race_leaves_nothing_behind(rig: Rig) -> None:
    await packaged(rig)
    sets = rig.subtitles._sets
    change = sets.change
    racing = True

    async def newer_first(video_id: str, language: str, track: SubtitleTrack) -> bool:
        nonlocal racing
        if racing:  # the newer version lands between the stale one's read and its compare-and-set
            racing = False
            await rig.subtitles.on_added(added("en", 5))
        return await change(video_id, language, track)

    sets.change = newer_first  # type: ignore[method-assign]
    await rig.subtitles.on_added(added("en", 4))
    keys = await rig.storage.keys(f"hls/{VIDEO}/subtitles/en/")
    assert keys
    assert all("/00000005/" in key for key in keys), keys  # before: source_00000004.vtt stayed


async def test_a_change_rewrites_only_the_tracks_not_written_yet(rig: Rig) -> None:
    await packaged(rig)
    await rig.subtitles.on_added(added("en", 1))
    written: list[str] = []
    put = rig.storage.put_bytes

    async def counted(key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        written.append(key)
        await put(key, data, content_type)

    rig.storage.put_bytes = counted  # type: ignore[method-assign]
    await rig.subtitles.on_added(added("fr", 2, label="Français"))
    assert not [key for key in written if "/subtitles/en/" in key]  # before: every live track cut again
    assert [key for key in written if "/subtitles/fr/" in key]


async def test_announcing_after_the_videos_hls_went_gives_up_quietly(rig: Rig) -> None:
    await rig.subtitles.on_added(added("en", 1))  # recorded; no package
    await rig.subtitles.announce(added("en", 1), MasterWritten(()))  # before: AssertionError
    assert rig.published == []


async def test_the_first_timestamp_the_packager_recorded_is_used_without_probing(rig: Rig) -> None:
    await rig.storage.put_bytes(f"hls/{VIDEO}/480p/playlist.m3u8", PLAYLIST.encode())
    await rig.packages.record_variant(VIDEO, ["480p"], VARIANT.model_copy(update={"first_pts": 126006}))
    await rig.packages.mark_done(VIDEO)
    await rig.subtitles.on_added(added("en", 1))
    first = await text(rig.storage, f"hls/{VIDEO}/subtitles/en/00000001/seg_00000.vtt")
    assert first.startswith("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:126006,LOCAL:00:00:00.000\n")
    assert rig.subtitles.probes == 0  # before: probed (an encrypted one: its whole rendition downloaded)
