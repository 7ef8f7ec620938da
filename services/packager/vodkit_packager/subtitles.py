"""Subtitle tracks as HLS subtitle renditions: `subtitles.added` / `subtitles.removed` in, `subtitles.published` out.

The gateway validated each track and sends it whole as WebVTT; the packager keeps it at
`hls/{videoId}/subtitles/{language}/{revision}/source.vtt` (so whatever removes the video's HLS removes it
too) and the video's tracks in its collection `packager_subtitles`. Each version of a track has its own
folder, written once and never replaced under its names. Whenever the set changes on a packaged video,
or the ladder's master is written, each track not yet written for its revision is cut along the video's
segments (`vodkit_shared.captions.segments`: same durations as the video's playlist, `X-TIMESTAMP-MAP`
at the first video timestamp of the packaged segments, which the packager recorded in the `Variant`)
and the master is written again with an `EXT-X-MEDIA TYPE=SUBTITLES` group; then `subtitles.published`
names what the master lists.

Changes carry the video's subtitle revision (the gateway counts them): a change older than what the
record holds for its language is stale and dropped, so duplicates and reordered events change nothing.
A removal stays in the record as a tombstone for the same reason. A language's older versions are
removed only after the master naming its newest (or none) is written, so a removal racing a new version
never deletes the new one. A track added before the video is packaged waits in the record; cues beyond
the video's end are clipped when it is published. Ended videos follow `vodkit_shared.lifecycle`: their
subtitle events are dropped, and what was written while one ended is removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field

from vodkit_packager.hls import (
    INIT_SEGMENT,
    PLAYLIST,
    SegmentFormat,
    SubtitleRendition,
    Variant,
    first_pts,
    master_playlist,
    parse_media_playlist,
    subtitle_path,
)
from vodkit_packager.packages import Packages
from vodkit_shared import captions
from vodkit_shared.bus import MessageBus
from vodkit_shared.events import (
    Envelope,
    PublishedSubtitles,
    SubtitlesAdded,
    SubtitlesPublished,
    SubtitlesRemoved,
    stable_event_id,
)
from vodkit_shared.lifecycle import EndedVideos
from vodkit_shared.metadata import Collection, Document, DuplicateKey
from vodkit_shared.scratch import scratch_dir
from vodkit_shared.storage import ObjectNotFound, ObjectStorage

log = logging.getLogger(__name__)
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
VTT_TYPE = "text/vtt; charset=utf-8"
SCRATCH_PREFIX = "vodkit-subtitles-"
SOURCE = "source.vtt"  # the whole track, in its version's folder
_REWRITES = 3  # a master written from a set that changed meanwhile is written again, this many times at most


def subtitles_prefix(video_id: str, language: str | None = None) -> str:
    return f"hls/{video_id}/subtitles/" + (f"{language}/" if language else "")


def revision_prefix(video_id: str, language: str, revision: int) -> str:
    """One version's folder: its source, its playlist and segments, never replaced under their names."""
    return f"hls/{video_id}/{subtitle_path(language, revision)}"


class SubtitleTrack(BaseModel):
    """One language's latest change, as the packager heard it."""

    label: str = Field(description="Name players show.")
    default: bool = Field(description="The owner made it the default track.")
    revision: int = Field(description="The video's subtitle revision of this change.")
    removed: bool = Field(False, description="A tombstone: removed at this revision.")
    key: str | None = Field(None, description="Storage key of the whole track as WebVTT.")


class SubtitleSet(BaseModel):
    """A video's subtitle tracks (collection `packager_subtitles`)."""

    tracks: dict[str, SubtitleTrack] = Field(default_factory=dict, description="language → its latest change")
    mpegts: int | None = Field(None, description="First video timestamp of the packaged segments, 90 kHz.")

    def live(self) -> dict[str, SubtitleTrack]:
        return {language: t for language, t in sorted(self.tracks.items()) if not t.removed}

    def published(self) -> list[PublishedSubtitles]:
        live = self.live()
        default = captions.default_language({lang: (t.revision, t.default) for lang, t in live.items()})
        return [
            PublishedSubtitles(language=lang, label=t.label, default=lang == default, revision=t.revision)
            for lang, t in live.items()
        ]


class SubtitleSets:
    def __init__(self, collection: Collection) -> None:
        self._c = collection

    async def get(self, video_id: str) -> SubtitleSet:
        doc = await self._c.get(video_id)
        return SubtitleSet.model_validate(doc) if doc else SubtitleSet()

    async def change(self, video_id: str, language: str, track: SubtitleTrack) -> bool:
        """Record `track` unless the record holds a change as new or newer; whether it did."""
        with contextlib.suppress(DuplicateKey):
            await self._c.insert(video_id, SubtitleSet().model_dump())
        changed = False

        def apply(doc: Document) -> Document | None:
            nonlocal changed
            known = SubtitleSet.model_validate(doc)
            held = known.tracks.get(language)
            if held is not None and held.revision >= track.revision:
                changed = False
                return None
            tracks = dict(known.tracks)
            if track.default and not track.removed:  # one default: the newest made so
                tracks = {lang: t.model_copy(update={"default": False}) for lang, t in tracks.items()}
            tracks[language] = track
            changed = True
            return known.model_copy(update={"tracks": tracks}).model_dump()

        await self._c.update(video_id, apply)
        return changed

    async def set_mpegts(self, video_id: str, mpegts: int) -> None:
        await self._c.update(video_id, lambda doc: {**doc, "mpegts": mpegts})

    async def delete(self, video_id: str) -> None:
        await self._c.delete(video_id)


@dataclass(frozen=True)
class MasterWritten:
    """What a master listed: the tracks (revisions included) it was written from."""

    tracks: tuple[PublishedSubtitles, ...]


class Subtitles:
    def __init__(
        self,
        storage: ObjectStorage,
        bus: MessageBus,
        packages: Packages,
        sets: SubtitleSets,
        ended: EndedVideos,
        fmt: SegmentFormat,
        work_dir: Path | None = None,
    ) -> None:
        self._storage = storage
        self._bus = bus
        self._packages = packages
        self._sets = sets
        self._ended = ended
        self._format = fmt
        self._work_dir = work_dir

    async def on_added(self, envelope: Envelope) -> None:
        added = envelope.payload(SubtitlesAdded)
        video_id = envelope.video_id
        if await self._ended.ended_for(envelope):
            log.info("subtitles of an ended video dropped", extra={"videoId": video_id})
            return
        known = (await self._sets.get(video_id)).tracks.get(added.language)
        if known is not None and known.revision >= added.revision:
            return  # a duplicate, or older than what is recorded
        key = revision_prefix(video_id, added.language, added.revision) + SOURCE
        await self._storage.put_bytes(key, added.webvtt.encode(), VTT_TYPE)
        track = SubtitleTrack(label=added.label, default=added.default, revision=added.revision, key=key)
        if await self._sets.change(video_id, added.language, track):
            await self.republish(envelope)
        await self._sweep(video_id, added.language)  # older versions; this one too, if it lost the race
        await self._discard_if_ended(envelope)

    async def on_removed(self, envelope: Envelope) -> None:
        removed = envelope.payload(SubtitlesRemoved)
        video_id = envelope.video_id
        if await self._ended.ended_for(envelope):
            return
        tombstone = SubtitleTrack(label="", default=False, revision=removed.revision, removed=True)
        if await self._sets.change(video_id, removed.language, tombstone):
            await self.republish(envelope)  # the master stops listing it first, then its objects go
            await self._sweep(video_id, removed.language)
        await self._discard_if_ended(envelope)

    async def republish(self, envelope: Envelope) -> None:
        """Write the subtitle renditions and the master again, if the video is packaged, and announce them."""
        package = await self._packages.get(envelope.video_id)
        if package is None or not package.done:
            return  # the ladder's master will list them
        text, written = await self.master(envelope.video_id, list(package.variants.values()))
        await self._storage.put_bytes(f"hls/{envelope.video_id}/master.m3u8", text.encode(), PLAYLIST_TYPE)
        await self.announce(envelope, written, always=True)

    async def master(self, video_id: str, variants: list[Variant]) -> tuple[str, MasterWritten]:
        """The master of `variants` with every live track, each track's rendition written first (once per
        revision: a version already written is kept as it is). A track whose version was swept meanwhile
        (a newer one replaced it) is left out; `announce` sees the set changed and writes the master again."""
        subtitle_set = await self._sets.get(video_id)
        published = subtitle_set.published()
        renditions: list[SubtitleRendition] = []
        listed: list[PublishedSubtitles] = []
        if published:
            variant, playlist = await self._first_playlist(video_id, variants)
            durations = [segment.duration_s for segment in parse_media_playlist(playlist)]
            mpegts = subtitle_set.mpegts
            if mpegts is None:
                mpegts = variant.first_pts
                if mpegts is None:  # recorded before the packager measured it (never encrypted then)
                    mpegts = await self._first_timestamp(video_id, variant.rung)
                await self._sets.set_mpegts(video_id, mpegts)
            live = subtitle_set.live()
            for track in published:
                try:
                    await self._write_rendition(video_id, track.language, live[track.language], durations, mpegts)
                except ObjectNotFound:
                    continue
                renditions.append(SubtitleRendition(track.language, track.label, track.default, track.revision))
                listed.append(track)
        return master_playlist(variants, self._format, renditions), MasterWritten(tuple(listed))

    async def announce(self, envelope: Envelope, written: MasterWritten, always: bool = False) -> None:
        """`subtitles.published` for what the master lists; the master again if the tracks changed since."""
        for _ in range(_REWRITES):
            now = tuple((await self._sets.get(envelope.video_id)).published())
            if now == written.tracks:
                break
            package = await self._packages.get(envelope.video_id)
            if package is None or not package.done:
                return  # its HLS went meanwhile (a failed run, a deleted video): nothing lists the tracks
            text, written = await self.master(envelope.video_id, list(package.variants.values()))
            await self._storage.put_bytes(f"hls/{envelope.video_id}/master.m3u8", text.encode(), PLAYLIST_TYPE)
            always = True
        if not (always or written.tracks):
            return
        master_key = f"hls/{envelope.video_id}/master.m3u8"
        event = SubtitlesPublished(master_key=master_key, tracks=list(written.tracks))
        fingerprint = ",".join(f"{t.language}:{t.revision}:{t.default}" for t in written.tracks)
        event_id = stable_event_id(event.TYPE, envelope.video_id, envelope.correlation_id, fingerprint)
        await self._bus.publish(envelope.follow(event, event_id))
        log.info("subtitles published", extra={"videoId": envelope.video_id, "subtitles": fingerprint})

    async def forget(self, video_id: str) -> None:
        """The video's HLS is gone (its objects with it): its record goes too."""
        await self._sets.delete(video_id)

    async def _sweep(self, video_id: str, language: str) -> None:
        """Remove the language's versions older than the one recorded (all of them, once it is removed).

        Each version has its own folder, so a newer one being written meanwhile is never touched; run after
        the master naming the newer one was written, so the master never names what is gone."""
        track = (await self._sets.get(video_id)).tracks.get(language)
        if track is None:
            return
        prefix = subtitles_prefix(video_id, language)
        for key in await self._storage.keys(prefix):
            folder, _, rest = key[len(prefix) :].partition("/")
            older = folder.isdigit() and int(folder) < track.revision if rest else track.removed
            if older:  # a name with no folder: a version written before each had its own
                await self._storage.delete(key)

    async def _discard_if_ended(self, envelope: Envelope) -> None:
        if await self._ended.ended_for(envelope):  # it ended while we wrote: what we wrote goes too
            await self._storage.delete_prefix(subtitles_prefix(envelope.video_id))
            await self._sets.delete(envelope.video_id)

    async def _write_rendition(
        self, video_id: str, language: str, track: SubtitleTrack, durations: list[float], mpegts: int
    ) -> None:
        prefix = revision_prefix(video_id, language, track.revision)
        if track.key is None or await self._storage.size(prefix + PLAYLIST) is not None:
            return  # written already: its playlist goes last
        text = (await self._storage.get_bytes(track.key)).decode()
        parts = await asyncio.to_thread(_cut, text, durations, mpegts)  # CPU work: off the event loop
        for part in parts:
            await self._storage.put_bytes(prefix + part.name, part.text.encode(), VTT_TYPE)
        await self._storage.put_bytes(prefix + PLAYLIST, captions.media_playlist(parts).encode(), PLAYLIST_TYPE)

    async def _first_playlist(self, video_id: str, variants: list[Variant]) -> tuple[Variant, str]:
        """One rung and its media playlist (the rungs are cut alike: the same durations and timestamps)."""
        variant = sorted(variants, key=lambda v: v.rung)[0]
        return variant, (await self._storage.get_bytes(f"hls/{video_id}/{variant.rung}/{PLAYLIST}")).decode()

    async def _first_timestamp(self, video_id: str, rung: str) -> int:
        """The first video timestamp of a variant recorded before the packager measured it, measured
        now on its first (clear) segment, after its init segment for fMP4 (`hls.first_pts`)."""
        async with scratch_dir(SCRATCH_PREFIX, self._work_dir) as work:
            first = work / f"seg_00000.{self._format.extension}"
            await self._storage.get_file(f"hls/{video_id}/{rung}/{first.name}", first)
            init = None
            if self._format.name == "fmp4":
                init = work / INIT_SEGMENT
                await self._storage.get_file(f"hls/{video_id}/{rung}/{INIT_SEGMENT}", init)
            return await first_pts(first, init, work)


def _cut(webvtt: str, durations: list[float], mpegts: int) -> list[captions.SubtitleSegment]:
    cues = captions.clipped(captions.parse_webvtt(webvtt), sum(durations))  # a track added early may run on
    return captions.segments(cues, durations, mpegts)
